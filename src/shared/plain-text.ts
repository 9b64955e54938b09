/**
 * Text people read where they must trust it (a reason an approver judges, a device name in the
 * audit trail) is one line of visible characters: no control characters (tabs, newlines, ESC
 * sequences that retitle or repaint a terminal), no line or paragraph separators, no invisible
 * formatting (bidi overrides that reverse what is shown, zero-width spaces), no lone surrogates.
 */
export const CONTROL_OR_INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
