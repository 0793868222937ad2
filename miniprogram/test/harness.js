// Starts a real `applet serve all` for the tests and loads pages the way the mini program runtime
// does: Page(definition), then onLoad and handlers on an instance whose setData is recorded.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const config = require('../config.js');
const { createWx } = require('./wx.js');
const { render, tapOn } = require('./wxml.js');

const root = path.join(__dirname, '..');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    srv.on('error', reject);
  });
}

// The applet binary: APPLET_BIN from the test harness, or built here.
function appletBinary() {
  if (process.env.APPLET_BIN) return process.env.APPLET_BIN;
  const bin = path.join(os.tmpdir(), 'applet-miniprogram-test-' + process.pid);
  execFileSync('go', ['build', '-o', bin, './cmd/applet'], { cwd: path.join(root, '..'), stdio: 'inherit' });
  return bin;
}

// startServer runs `applet serve all --dev` on a free port; extraEnv adds to its environment.
async function startServer(extraEnv = {}) {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'applet-mp-'));
  const env = Object.assign({}, process.env, {
    APPLET_GAME_BOT_DELAY: '150ms', APPLET_GAME_GAME_TIME: '1s', APPLET_GAME_READY_WAIT: '2s',
    APPLET_LOG_FORMAT: 'json', APPLET_LOG_LEVEL: 'warn', APPLET_CONFIG: path.join(dataDir, 'none.yaml'),
  }, extraEnv);
  fs.writeFileSync(env.APPLET_CONFIG, '');
  const proc = spawn(appletBinary(), ['serve', 'all', '--listen', '127.0.0.1:' + port, '--dev', '--data-dir', dataDir], { env, stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const host = 'http://127.0.0.1:' + port;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(host + '/healthz');
      if (r.ok) break;
    } catch (_) { /* not up yet */ }
    if (proc.exitCode !== null) throw new Error('applet serve exited: ' + stderr);
    await sleep(50);
  }
  config.host = host;
  return { host, stop: () => new Promise((res) => { proc.once('exit', res); proc.kill('SIGTERM'); }) };
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function waitFor(cond, what, ms = 5000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error('timed out waiting for ' + what);
}

// loadPage requires a page afresh and returns an instance with recorded setData.
function loadPage(name, wx) {
  global.wx = wx;
  let def;
  global.Page = (d) => { def = d; };
  const file = path.join(root, 'pages', name, name + '.js');
  delete require.cache[require.resolve(file)];
  require(file);
  const page = Object.assign({}, def, { data: JSON.parse(JSON.stringify(def.data || {})), updates: [], name });
  page.setData = function (obj, cb) {
    // The runtime carries setData across a thread boundary as JSON, at most 1 MB a call.
    const size = Buffer.byteLength(JSON.stringify(obj));
    page.maxSetData = Math.max(page.maxSetData || 0, size);
    if (size > 1024 * 1024) throw new Error('setData of ' + size + ' bytes: over the 1 MB limit');
    Object.assign(this.data, JSON.parse(JSON.stringify(obj)));
    this.updates.push(obj);
    if (cb) cb();
  };
  // view renders the page's template with its data: what the user sees now.
  page.view = () => render(name, page.data);
  page.sees = () => page.view().text();
  return page;
}

function tap(dataset) {
  return { currentTarget: { dataset } };
}

module.exports = { startServer, freePort, loadPage, createWx, waitFor, sleep, tap, root, tapOn };
