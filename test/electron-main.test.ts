// electron/main.ts cannot run here (no Electron binary), so what must hold of it is read from its
// syntax tree: a listener registered inside start() — after `ready` — misses what the OS sends
// before (macOS hands the launch's latch:// link to `open-url` before `ready`).
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const MAIN = 'electron/main.ts';

/** Each `app.on('<event>', …)` in the code, with the names of the functions it sits in. */
function listeners(code: string): { event: string; inside: string[] }[] {
  const source = ts.createSourceFile('main.ts', code, ts.ScriptTarget.Latest, true);
  const found: { event: string; inside: string[] }[] = [];
  const visit = (node: ts.Node, inside: string[]): void => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)
      && node.expression.expression.getText(source) === 'app' && node.expression.name.text === 'on'
      && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      found.push({ event: node.arguments[0].text, inside });
    }
    const name = ts.isFunctionDeclaration(node) ? (node.name?.text ?? '<function>')
      : ts.isFunctionExpression(node) || ts.isArrowFunction(node) || ts.isMethodDeclaration(node) ? '<function>'
      : null;
    ts.forEachChild(node, (child) => visit(child, name === null ? inside : [...inside, name]));
  };
  visit(source, []);
  return found;
}

describe('electron/main.ts', () => {
  it('listens for deep links and second launches from the first line run, not after start', () => {
    const found = listeners(readFileSync(MAIN, 'utf8'));
    for (const event of ['open-url', 'second-instance']) {
      const at = found.filter((l) => l.event === event);
      expect(at, event).toHaveLength(1);
      expect(at[0]!.inside, `${event} is registered inside ${at[0]!.inside.join(' > ')}`).toEqual([]);
    }
  });

  it('(the check itself) sees a listener registered inside start()', () => {
    const late = listeners("async function start() { app.on('open-url', () => undefined); }\nvoid app.whenReady().then(start);");
    expect(late).toEqual([{ event: 'open-url', inside: ['start'] }]);
  });
});
