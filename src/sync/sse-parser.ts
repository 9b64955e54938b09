/**
 * An incremental parser for server-sent events (the WHATWG "event stream interpretation"): fed raw
 * chunks as they arrive (a UTF-8 character or a line may be split between chunks), it returns each
 * complete frame. Comments (`: heartbeat`) produce no frame; the caller counts them as signs of life
 * by the bytes alone.
 */
export interface SseFrame {
  /** The frame's own `id:` field, or null when it had none. */
  id: string | null;
  /** `message` when the frame named no event. */
  event: string;
  /** The `data:` lines joined with newlines. */
  data: string;
}

/** A line longer than this is not an SSE stream we understand (a wrong endpoint, or a runaway body). */
export const MAX_LINE = 1024 * 1024;

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private started = false;
  private id: string | null = null;
  private event = '';
  private data: string[] = [];
  private hasData = false;

  push(chunk: Uint8Array): SseFrame[] {
    let text = this.decoder.decode(chunk, { stream: true });
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buffer += text;
    const frames: SseFrame[] = [];
    let start = 0;
    for (;;) {
      const nl = indexOfLineEnd(this.buffer, start);
      if (nl < 0) break;
      const line = this.buffer.slice(start, nl);
      // A CR at the very end might be the first half of CRLF: wait for the next chunk.
      if (this.buffer[nl] === '\r' && nl + 1 === this.buffer.length) break;
      start = nl + (this.buffer[nl] === '\r' && this.buffer[nl + 1] === '\n' ? 2 : 1);
      const frame = this.line(line);
      if (frame) frames.push(frame);
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length > MAX_LINE) throw new Error(`an event-stream line is longer than ${MAX_LINE} bytes`);
    return frames;
  }

  private line(line: string): SseFrame | null {
    if (line === '') {
      const frame = this.hasData || this.event !== '' ? { id: this.id, event: this.event || 'message', data: this.data.join('\n') } : null;
      this.id = null;
      this.event = '';
      this.data = [];
      this.hasData = false;
      return frame;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      default:
        // `retry:` and unknown fields: the reconnect policy is ours (events.ts).
        break;
    }
    return null;
  }
}

function indexOfLineEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}
