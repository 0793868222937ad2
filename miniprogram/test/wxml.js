// A WXML renderer for the tests: it evaluates a page's template against its data as the mini
// program runtime does (mustaches, wx:if/elif/else, wx:for with item and index, hidden), so a test
// asserts on what the user sees. An expression that throws fails the render, naming the template.
const fs = require('node:fs');
const path = require('node:path');

const VOID = new Set(['image', 'input', 'icon', 'progress', 'checkbox', 'radio', 'switch', 'slider']);

function parse(src, file) {
  const root = { tag: '#root', attrs: {}, children: [] };
  const stack = [root];
  const re = /<!--[\s\S]*?-->|<\/([\w-]+)\s*>|<([\w-]+)((?:\s+[\w:.-]+(?:\s*=\s*(?:"[^"]*"|'[^']*'))?)*)\s*(\/?)>|([^<]+)/g;
  let m;
  while ((m = re.exec(src))) {
    const top = stack[stack.length - 1];
    if (m[0].startsWith('<!--')) continue;
    if (m[1]) {
      if (top.tag !== m[1]) throw new Error(`${file}: </${m[1]}> closes <${top.tag}>`);
      stack.pop();
    } else if (m[2]) {
      const attrs = {};
      const ar = /([\w:.-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'))?/g;
      let a;
      while ((a = ar.exec(m[3] || ''))) attrs[a[1]] = a[2] !== undefined ? a[2] : a[3] !== undefined ? a[3] : true;
      const node = { tag: m[2], attrs, children: [] };
      top.children.push(node);
      if (!m[4] && !VOID.has(m[2])) stack.push(node);
    } else if (m[5] && m[5].trim()) {
      top.children.push({ text: m[5] });
    }
  }
  if (stack.length !== 1) throw new Error(`${file}: <${stack[stack.length - 1].tag}> is not closed`);
  return root;
}

function evaluate(expr, scope, file) {
  const names = Object.keys(scope).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k));
  try {
    // eslint-disable-next-line no-new-func
    return new Function(...names, 'return (' + expr + ');')(...names.map((k) => scope[k]));
  } catch (err) {
    if (err instanceof ReferenceError) return undefined; // WXML reads an unknown name as undefined
    throw new Error(`${file}: {{${expr}}}: ${err.message}`);
  }
}

// interpolate returns the value of a whole-mustache attribute, or the string with mustaches filled.
function interpolate(str, scope, file) {
  if (typeof str !== 'string') return str;
  const whole = str.match(/^\s*\{\{((?:(?!\}\}|\{\{)[\s\S])+)\}\}\s*$/);
  if (whole) return evaluate(whole[1], scope, file);
  return str.replace(/\{\{([\s\S]+?)\}\}/g, (_, e) => {
    const v = evaluate(e, scope, file);
    return v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
}

function renderChildren(children, scope, file, out) {
  let chainDone = true; // an if/elif chain already rendered a branch
  for (const n of children) {
    if (n.text !== undefined) {
      const v = interpolate(n.text, scope, file);
      out.push({ text: v === undefined || v === null ? '' : String(v) });
      continue;
    }
    const a = n.attrs;
    if ('wx:if' in a) {
      chainDone = !!interpolate(a['wx:if'], scope, file);
      if (!chainDone) continue;
    } else if ('wx:elif' in a) {
      if (chainDone) continue;
      chainDone = !!interpolate(a['wx:elif'], scope, file);
      if (!chainDone) continue;
    } else if ('wx:else' in a) {
      if (chainDone) continue;
      chainDone = true;
    }
    if ('wx:for' in a) {
      let list = interpolate(a['wx:for'], scope, file) || [];
      if (typeof list === 'number') list = Array.from({ length: list }, (_, i) => i);
      const itemName = a['wx:for-item'] || 'item';
      const indexName = a['wx:for-index'] || 'index';
      Object.keys(list).forEach((k, i) => {
        const s = Object.assign({}, scope, { [itemName]: list[k], [indexName]: Array.isArray(list) ? i : k });
        out.push(renderNode(n, s, file));
      });
      continue;
    }
    out.push(renderNode(n, scope, file));
  }
}

function renderNode(n, scope, file) {
  const attrs = {};
  const dataset = {};
  for (const [k, v] of Object.entries(n.attrs)) {
    if (k.startsWith('wx:')) continue;
    const val = interpolate(v, scope, file);
    attrs[k] = val;
    if (k.startsWith('data-')) dataset[k.slice(5).replace(/-(\w)/g, (_, c) => c.toUpperCase())] = val;
  }
  const node = { tag: n.tag, attrs, dataset, children: [] };
  if (n.tag !== 'block' && attrs.hidden) return { tag: n.tag, attrs, dataset, children: [], hidden: true };
  renderChildren(n.children, scope, file, node.children);
  return node;
}

function load(page) {
  const file = path.join(__dirname, '..', 'pages', page, page + '.wxml');
  return { file, tree: parse(fs.readFileSync(file, 'utf8'), file) };
}

// render draws a page's template with data; the result has text(), find() and tap().
function render(pageName, data) {
  const { file, tree } = load(pageName);
  const out = [];
  renderChildren(tree.children, data, file, out);
  const root = { tag: '#root', children: out };
  return new View(root);
}

class View {
  constructor(root) { this.root = root; }

  // text is what the user reads: every visible text and button label, in order, one space apart.
  text() {
    const parts = [];
    const walk = (n) => {
      if (n.hidden) return;
      if (n.text !== undefined) { if (n.text.trim()) parts.push(n.text.trim()); return; }
      if (n.tag === 'input' && n.attrs.placeholder) parts.push('[' + n.attrs.placeholder + ']');
      (n.children || []).forEach(walk);
    };
    walk(this.root);
    return parts.join(' ');
  }

  // find lists the visible elements with an attribute (e.g. 'bindtap'), or with that attribute's value.
  find(attr, value) {
    const found = [];
    const walk = (n) => {
      if (n.hidden || n.text !== undefined) return;
      if (n.attrs && attr in n.attrs && (value === undefined || n.attrs[attr] === value)) found.push(n);
      (n.children || []).forEach(walk);
    };
    walk(this.root);
    return found;
  }

  // label is the text inside an element.
  static label(n) { return new View(n).text(); }
}

// tapOn taps the visible element whose label (or data) matches, calling the page's handler as the
// runtime would; it fails when no such element is on screen.
function tapOn(page, view, label, event = 'bindtap') {
  const el = view.find(event).find((n) => View.label(n) === label || View.label(n).includes(label));
  if (!el) throw new Error(`no visible element "${label}" with ${event}; the page shows: ${view.text()}`);
  return page[el.attrs[event]]({ currentTarget: { dataset: el.dataset }, target: { dataset: el.dataset }, detail: {} });
}

module.exports = { render, tapOn, View, parse };
