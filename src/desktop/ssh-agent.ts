/**
 * Hands an ssh grant's key and certificate to the person's running ssh-agent, so that the plain
 * `ssh user@host` the app copies works from any terminal while the private key stays off disk:
 * it goes from the keychain straight into the agent's memory, with a lifetime that ends with the
 * grant (the agent forgets it by itself, even if Latch is not running then).
 *
 * This speaks the agent protocol (draft-miller-ssh-agent; OpenSSH's PROTOCOL.agent) over
 * SSH_AUTH_SOCK, or Windows' `\\.\pipe\openssh-ssh-agent`, rather than running `ssh-add`:
 * `ssh-add -` reads a key from stdin but then cannot find its certificate (it looks for
 * `<file>-cert.pub`), so `ssh-add` would need the key in a file.
 */
import { connect, type Socket } from 'node:net';
import { sshString, type Ed25519Key } from './ssh-key.js';

const SSH_AGENT_FAILURE = 5;
const SSH_AGENT_SUCCESS = 6;
const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENTC_REMOVE_IDENTITY = 18;
const SSH_AGENTC_ADD_ID_CONSTRAINED = 25;
const SSH_AGENT_CONSTRAIN_LIFETIME = 1;
const CERT_TYPE = 'ssh-ed25519-cert-v01@openssh.com';
const WINDOWS_PIPE = '\\\\.\\pipe\\openssh-ssh-agent';
const TIMEOUT_MS = 5_000;

/** The person's ssh-agent as the desktop agent uses it. */
export interface SshAgentSink {
  /** Where it is, for messages ("the ssh-agent at /run/user/1000/…"); null when there is none. */
  readonly socket: string | null;
  /** Adds the key with its certificate, for `lifetimeSeconds` (then the ssh-agent drops it). */
  addCertificate(input: { certificate: string; key: Ed25519Key; lifetimeSeconds: number; comment: string }): Promise<void>;
  /** Removes it again (the grant ended early); "not there" is fine. */
  removeCertificate(certificate: string): Promise<void>;
}

/** The ssh-agent could not be used; `message` says what to do. */
export class SshAgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshAgentError';
  }
}

/** Where this process would find the person's ssh-agent. */
export function defaultSshAgentSocket(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | null {
  const sock = env.SSH_AUTH_SOCK?.trim();
  if (sock) return sock;
  return platform === 'win32' ? WINDOWS_PIPE : null;
}

const startAgentHint = (platform: NodeJS.Platform): string =>
  platform === 'win32'
    ? 'start the "OpenSSH Authentication Agent" service (PowerShell as administrator: `Get-Service ssh-agent | Set-Service -StartupType Automatic; Start-Service ssh-agent`)'
    : platform === 'darwin'
      ? 'log out and in again (macOS starts one for each session)'
      : 'start one with your desktop session (most start ssh-agent or GNOME Keyring at login), then restart Latch so it sees SSH_AUTH_SOCK';

/** The certificate blob of a `ssh-ed25519-cert-v01@openssh.com AAAA… [comment]` line. */
function certificateBlob(certificate: string): Buffer {
  const [type, b64] = certificate.trim().split(/\s+/);
  if (type !== CERT_TYPE || b64 === undefined) throw new SshAgentError(`The grant's certificate is not an ed25519 certificate (${type ?? 'empty'}); end the grant and request it again from the app.`);
  return Buffer.from(b64, 'base64');
}

export function sshAgentClient(socket: string | null, platform: NodeJS.Platform = process.platform): SshAgentSink {
  const where = socket === null ? 'no ssh-agent' : `the ssh-agent at ${socket}`;

  /** One request, one answer (each call on its own connection: the agent keeps no state between them). */
  const call = (message: Buffer): Promise<Buffer> => {
    if (socket === null) {
      return Promise.reject(new SshAgentError(`No ssh-agent is running where Latch started (SSH_AUTH_SOCK is not set), so the key cannot be loaded for ssh: ${startAgentHint(platform)}, then copy the command again.`));
    }
    return new Promise((resolve, reject) => {
      const conn: Socket = connect(socket);
      let got = Buffer.alloc(0);
      let finished = false;
      const done = (err: Error | null, answer?: Buffer) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        conn.destroy();
        if (err) reject(err);
        else resolve(answer!);
      };
      const timer = setTimeout(() => done(new SshAgentError(`${cap(where)} did not answer within ${TIMEOUT_MS / 1000} s; restart it (${startAgentHint(platform)}), then copy the command again.`)), TIMEOUT_MS);
      conn.on('connect', () => conn.write(Buffer.concat([u32(message.length), message])));
      conn.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) done(null, got.subarray(4, 4 + got.readUInt32BE(0)));
      });
      conn.on('error', (err: NodeJS.ErrnoException) =>
        done(new SshAgentError(`${cap(where)} cannot be reached (${err.code ?? err.message}): ${startAgentHint(platform)}, then copy the command again.`)));
      conn.on('close', () => done(new SshAgentError(`${cap(where)} closed the connection without answering; restart it, then copy the command again.`)));
    });
  };

  return {
    socket,
    async addCertificate({ certificate, key, lifetimeSeconds, comment }) {
      const message = Buffer.concat([
        Buffer.from([SSH_AGENTC_ADD_ID_CONSTRAINED]),
        sshString(CERT_TYPE), sshString(certificateBlob(certificate)), sshString(key.publicKey), sshString(key.secretKey), sshString(comment),
        Buffer.from([SSH_AGENT_CONSTRAIN_LIFETIME]), u32(Math.max(1, Math.floor(lifetimeSeconds))),
      ]);
      const answer = await call(message);
      if (answer[0] === SSH_AGENT_SUCCESS) return;
      throw new SshAgentError(answer[0] === SSH_AGENT_FAILURE
        ? `${cap(where)} refused the key and certificate (an agent without certificate support, such as an old GNOME Keyring, does that): use OpenSSH's ssh-agent, or \`latch request\` from a terminal.`
        : `${cap(where)} gave an unexpected answer (${answer[0] ?? 'empty'}); restart it, then copy the command again.`);
    },
    async removeCertificate(certificate) {
      if (socket === null) return;
      // Failure means it was not there (expired by its lifetime, or removed by the person): fine.
      await call(Buffer.concat([Buffer.from([SSH_AGENTC_REMOVE_IDENTITY]), sshString(certificateBlob(certificate))]));
    },
  };
}

/** The public key blobs and comments the agent holds (tests; `ssh-add -L` shows the same). */
export async function listIdentities(socket: string): Promise<{ blob: Buffer; comment: string }[]> {
  const answer = await new Promise<Buffer>((resolve, reject) => {
    const conn = connect(socket);
    let got = Buffer.alloc(0);
    conn.on('connect', () => conn.write(Buffer.concat([u32(1), Buffer.from([SSH_AGENTC_REQUEST_IDENTITIES])])));
    conn.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) {
        conn.destroy();
        resolve(got.subarray(4));
      }
    });
    conn.on('error', reject);
  });
  if (answer[0] !== SSH_AGENT_IDENTITIES_ANSWER) throw new Error(`unexpected answer ${answer[0]}`);
  const out: { blob: Buffer; comment: string }[] = [];
  let at = 5;
  for (let i = 0; i < answer.readUInt32BE(1); i++) {
    const blobLen = answer.readUInt32BE(at);
    const blob = answer.subarray(at + 4, at + 4 + blobLen);
    at += 4 + blobLen;
    const cLen = answer.readUInt32BE(at);
    out.push({ blob, comment: answer.subarray(at + 4, at + 4 + cLen).toString('utf8') });
    at += 4 + cLen;
  }
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
