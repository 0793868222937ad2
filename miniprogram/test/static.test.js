// Static checks a developer tool would reject the project for.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { root, loadPage, createWx } = require('./harness.js');

function jsonFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.')) return [];
    const p = path.join(dir, e.name);
    return e.isDirectory() ? jsonFiles(p) : p.endsWith('.json') ? [p] : [];
  });
}

test('every JSON file parses', () => {
  for (const f of jsonFiles(root)) {
    assert.doesNotThrow(() => JSON.parse(fs.readFileSync(f, 'utf8')), f);
  }
});

test('every page of app.json has its four files, and tabBar pages exist', () => {
  const app = JSON.parse(fs.readFileSync(path.join(root, 'app.json'), 'utf8'));
  assert.ok(app.pages.length >= 5);
  for (const page of app.pages) {
    for (const ext of ['.js', '.json', '.wxml', '.wxss']) {
      assert.ok(fs.existsSync(path.join(root, page + ext)), page + ext);
    }
  }
  for (const tab of app.tabBar.list) assert.ok(app.pages.includes(tab.pagePath), tab.pagePath);
});

test('every bind/catch handler in WXML exists in the page', () => {
  const app = JSON.parse(fs.readFileSync(path.join(root, 'app.json'), 'utf8'));
  for (const page of app.pages) {
    const wxml = fs.readFileSync(path.join(root, page + '.wxml'), 'utf8');
    const def = loadPage(path.basename(page), createWx('static'));
    const handlers = [...wxml.matchAll(/\b(?:bind|catch)(?::)?[a-z]+="([A-Za-z_$][\w$]*)"/g)].map((m) => m[1]);
    assert.ok(handlers.length > 0, page + ' binds nothing');
    for (const h of handlers) assert.strictEqual(typeof def[h], 'function', page + ': ' + h);
  }
});
