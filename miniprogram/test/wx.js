// A wx shim for node's test runner: real HTTP (fetch) and WebSocket (ws) calls, storage in memory,
// and a record of what the UI was asked to show. One shim is one phone.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');

function done(opts, fn) {
  Promise.resolve()
    .then(fn)
    .then((res) => { opts.success && opts.success(res); opts.complete && opts.complete(res); },
      (err) => { const e = { errMsg: String(err && err.message || err) }; opts.fail && opts.fail(e); opts.complete && opts.complete(e); });
}

async function parse(resp) {
  const text = await resp.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* not JSON: the text */ }
  const header = {};
  resp.headers.forEach((v, k) => { header[k] = v; });
  return { statusCode: resp.status, data, header };
}

// fakeCanvas is a canvas node as a 2D context sees it: its backing store's size, and where each
// point lands in it (the context's scale applied), so a test can tell where a touch was painted.
function fakeCanvas() {
  const node = { width: 300, height: 150, points: [] }; // WeChat's default backing store
  let sx = 1;
  let sy = 1;
  const ctx = {
    scale(x, y) { sx *= x; sy *= y; },
    beginPath() {}, stroke() {}, clearRect() {},
    moveTo(x, y) { node.points.push([x * sx, y * sy]); },
    lineTo(x, y) { node.points.push([x * sx, y * sy]); },
  };
  node.getContext = () => ctx;
  return node;
}

function createWx(user) {
  const storage = new Map();
  let logins = 0;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wx-'));
  const shim = {
    user,
    toasts: [],
    modals: [],
    nextModal: true, // the user confirms
    settingsOpened: 0,
    pixelRatio: 2,
    canvases: {}, // selector → node
    canvasSize: { width: 375, height: 375 },
    netListeners: [],
    saved: [],
    navigated: [],
    nextImage: '',
    nextTap: 0,
    failLogin: false,
    login(o) {
      done(o, () => {
        if (shim.failLogin) throw new Error('login:fail auth deny');
        if (shim.reuseCode && logins > 0) return { code: user + ':' + logins }; // WeChat refuses a used code
        return { code: user + ':' + ++logins };
      });
    },
    request(o) {
      done(o, async () => {
        const method = (o.method || 'GET').toUpperCase();
        const headers = Object.assign({}, o.header);
        let body;
        if (method !== 'GET' && o.data !== undefined) {
          body = typeof o.data === 'string' ? o.data : JSON.stringify(o.data);
          headers['content-type'] = headers['content-type'] || 'application/json';
        }
        return parse(await fetch(o.url, { method, headers, body }));
      });
    },
    uploadFile(o) {
      const task = { progress: [], onProgressUpdate(cb) { task.cb = cb; } };
      done(o, async () => {
        if (task.cb) [30, 100].forEach((p) => task.cb({ progress: p }));
        const form = new FormData();
        Object.entries(o.formData || {}).forEach(([k, v]) => form.append(k, v));
        form.append(o.name, new Blob([fs.readFileSync(o.filePath)]), path.basename(o.filePath));
        const resp = await fetch(o.url, { method: 'POST', headers: o.header || {}, body: form });
        return { statusCode: resp.status, data: await resp.text() }; // uploadFile hands back the text
      });
      return task;
    },
    downloadFile(o) {
      done(o, async () => {
        const resp = await fetch(o.url);
        const file = path.join(tmp, 'dl-' + Date.now() + '-' + Math.random().toString(36).slice(2));
        fs.writeFileSync(file, Buffer.from(await resp.arrayBuffer()));
        return { statusCode: resp.status, tempFilePath: file };
      });
    },
    connectSocket(o) {
      const ws = new WebSocket(o.url, { headers: o.header || {} });
      const on = (event, map) => (cb) => ws.on(event, (...a) => cb(map ? map(...a) : {}));
      return {
        onOpen: on('open'),
        onMessage: on('message', (data) => ({ data: data.toString() })),
        onClose: on('close', (code, reason) => ({ code, reason: String(reason) })),
        onError: on('error', (err) => ({ errMsg: err.message })),
        send(m) { ws.send(m.data); },
        close() { ws.close(); },
        raw: ws,
      };
    },
    chooseMedia(o) {
      done(o, () => {
        if (shim.chooseFails) throw new Error(shim.chooseFails);
        return { tempFiles: [{ tempFilePath: shim.nextImage, size: shim.nextSize || fs.statSync(shim.nextImage).size }] };
      });
    },
    showModal(o) { shim.modals.push(o.content); done(o, () => ({ confirm: shim.nextModal, cancel: !shim.nextModal })); },
    openSetting(o) { shim.settingsOpened++; done(o, () => ({ authSetting: {} })); },
    getWindowInfo() { return { pixelRatio: shim.pixelRatio, windowWidth: 375, windowHeight: 667 }; },
    onNetworkStatusChange(cb) { shim.netListeners.push(cb); },
    offNetworkStatusChange(cb) { shim.netListeners = shim.netListeners.filter((x) => x !== cb); },
    createSelectorQuery() {
      let sel = '';
      const q = {
        select(s) { sel = s; return q; },
        fields() { return q; },
        exec(cb) {
          const node = shim.canvases[sel] || (shim.canvases[sel] = fakeCanvas());
          const size = sel === '#canvas' ? shim.canvasSize : { width: 60, height: 60 };
          cb([{ node, width: size.width, height: size.height }]);
        },
      };
      return q;
    },
    saveImageToPhotosAlbum(o) { done(o, () => { shim.saved.push(fs.readFileSync(o.filePath)); return {}; }); },
    showActionSheet(o) { done(o, () => ({ tapIndex: shim.nextTap })); },
    showToast(o) { shim.toasts.push(o.title); },
    showLoading() {},
    hideLoading() {},
    stopPullDownRefresh() {},
    previewImage() {},
    navigateTo(o) { shim.navigated.push(o.url); },
    getStorageSync(k) { return storage.has(k) ? storage.get(k) : ''; },
    setStorageSync(k, v) { storage.set(k, v); },
    removeStorageSync(k) { storage.delete(k); },
  };
  return shim;
}

module.exports = { createWx };
