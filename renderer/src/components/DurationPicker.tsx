/** Duration presets as a radio group, plus a custom value capped at the maximum. */
import { useId } from 'react';
import { formatDuration } from '../../../src/shared/duration.js';
import { durationLabel } from '../logic/presets.js';

export function DurationPicker(props: {
  legend: string;
  presets: number[];
  maxMs: number;
  value: number | 'custom';
  custom: string;
  error?: string | undefined;
  onChange(value: number | 'custom', custom: string): void;
}) {
  const name = useId();
  const customId = `${name}-custom`;
  const errorId = `${name}-error`;
  return (
    <fieldset className={`field duration${props.error ? ' field-invalid' : ''}`} aria-describedby={props.error ? errorId : undefined}>
      <legend className="field-label">
        {props.legend} <span className="field-aside">up to {durationLabel(props.maxMs)}</span>
      </legend>
      <div className="chips">
        {props.presets.map((ms) => (
          <label className="chip" key={ms}>
            <input type="radio" name={name} value={ms} checked={props.value === ms} onChange={() => props.onChange(ms, props.custom)} />
            <span>{durationLabel(ms)}</span>
          </label>
        ))}
        <label className="chip">
          <input type="radio" name={name} value="custom" checked={props.value === 'custom'} onChange={() => props.onChange('custom', props.custom)} />
          <span>Custom</span>
        </label>
      </div>
      {props.value === 'custom' ? (
        <div className="duration-custom">
          <label className="visually-hidden" htmlFor={customId}>Custom duration</label>
          <input
            id={customId}
            className="input input-narrow"
            type="text"
            inputMode="text"
            autoComplete="off"
            spellCheck={false}
            placeholder={`e.g. ${formatDuration(Math.min(props.maxMs, 45 * 60_000))}`}
            value={props.custom}
            aria-invalid={Boolean(props.error) || undefined}
            aria-describedby={props.error ? errorId : undefined}
            onChange={(e) => props.onChange('custom', e.target.value)}
          />
          <span className="field-hint">like 45m, 1h30m; at most {formatDuration(props.maxMs)}</span>
        </div>
      ) : null}
      {props.error ? <div className="field-error" id={errorId}>{props.error}</div> : null}
    </fieldset>
  );
}
