const config = require('../../config.js');
const session = require('../../lib/session.js');
const errors = require('../../lib/errors.js');

const url = (path) => config.host + '/applet/session/paints' + path;
const LINE_WIDTH = 4; // in the canvas's own (CSS) pixels, whatever the screen's density

function pixelRatio() {
  const info = (wx.getWindowInfo && wx.getWindowInfo()) || (wx.getSystemInfoSync && wx.getSystemInfoSync()) || {};
  return info.pixelRatio || 1;
}

// sized gives a 2D canvas a backing store of its element's size × the pixel ratio and scales the
// context to match, as WeChat's canvas guide does: otherwise the default 300×150 store is
// stretched over the element, and a touch paints far from the finger, blurred.
function sized(res) {
  const node = res && res.node;
  if (!node) return null;
  const dpr = pixelRatio();
  node.width = Math.round(res.width * dpr);
  node.height = Math.round(res.height * dpr);
  const ctx = node.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.lineWidth = LINE_WIDTH;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  return { ctx, width: res.width, height: res.height };
}

function query(selector, cb) {
  if (!wx.createSelectorQuery) return cb(null);
  wx.createSelectorQuery().select(selector).fields({ node: true, size: true }).exec((res) => cb(res && res[0]));
}

Page({
  // A drawing's actions (up to 1 MiB each) stay out of data: setData carries at most 1 MB.
  data: { paints: [], color: '#222222', loading: false, loaded: false, error: '', saving: false },

  onLoad() {
    this.actions = [];
    this.saved = {}; // id → actions (a JSON string)
    return this.list();
  },

  onReady() {
    query('#canvas', (res) => {
      const c = sized(res);
      if (!c) return; // no renderer: only the actions are kept
      this.ctx = c.ctx;
      this.canvasWidth = c.width;
      this.canvasHeight = c.height;
    });
  },

  onPullDownRefresh() {
    return this.list().then(() => wx.stopPullDownRefresh());
  },

  touchStart(e) {
    const t = e.touches[0];
    this.actions.push({ type: 'move', x: t.x, y: t.y, color: this.data.color });
    if (this.ctx) {
      this.ctx.strokeStyle = this.data.color;
      this.ctx.beginPath();
      this.ctx.moveTo(t.x, t.y);
    }
  },

  touchMove(e) {
    const t = e.touches[0];
    this.actions.push({ type: 'line', x: t.x, y: t.y });
    if (this.ctx) {
      this.ctx.lineTo(t.x, t.y);
      this.ctx.stroke();
    }
  },

  touchEnd() {},

  clear() {
    this.actions = [];
    if (this.ctx) this.ctx.clearRect(0, 0, this.canvasWidth || 10000, this.canvasHeight || 10000);
  },

  async list() {
    if (this.data.loading) return;
    this.setData({ loading: true, error: '' });
    try {
      const res = await session.request({ url: url('/list'), method: 'GET' });
      if (!res.data || typeof res.data !== 'object' || res.data.code !== 0) {
        throw Object.assign(new Error('list'), { reason: res.data && res.data.error, status: res.statusCode });
      }
      this.saved = {};
      const paints = res.data.data.map((p) => {
        this.saved[p.id] = p.actions;
        let steps = 0;
        try { steps = JSON.parse(p.actions).length; } catch (_) { /* not ours */ }
        return { id: p.id, steps };
      });
      this.setData({ paints, loaded: true }, () => this.drawThumbs());
    } catch (err) {
      this.setData({ error: errors.message(err, '加载失败') });
    } finally {
      this.setData({ loading: false });
    }
  },

  // drawThumbs replays each saved drawing's actions, scaled down, into its list canvas.
  drawThumbs() {
    this.data.paints.forEach((p) => {
      query('#thumb-' + p.id, (res) => {
        const c = sized(res);
        if (!c) return;
        const scale = c.width / (this.canvasWidth || 375);
        c.ctx.lineWidth = Math.max(1, LINE_WIDTH * scale);
        c.ctx.clearRect(0, 0, c.width, c.height);
        let actions = [];
        try { actions = JSON.parse(this.saved[p.id] || '[]'); } catch (_) { /* shown empty */ }
        actions.forEach((a) => {
          if (a.type === 'move') {
            c.ctx.stroke();
            c.ctx.strokeStyle = a.color || '#222';
            c.ctx.beginPath();
            c.ctx.moveTo(a.x * scale, a.y * scale);
          } else {
            c.ctx.lineTo(a.x * scale, a.y * scale);
          }
        });
        c.ctx.stroke();
      });
    });
  },

  async save() {
    if (this.actions.length === 0 || this.data.saving) return;
    const id = Date.now().toString(36);
    this.setData({ saving: true });
    try {
      // actions travel as a JSON string and come back exactly as sent.
      const res = await session.request({ url: url('/save'), method: 'POST', data: { id, actions: JSON.stringify(this.actions) } });
      if (!res.data || typeof res.data !== 'object' || res.data.code !== 0) {
        throw Object.assign(new Error('save'), { reason: res.data && res.data.error, status: res.statusCode });
      }
      this.clear();
      wx.showToast({ title: '已保存' });
      await this.list();
    } catch (err) {
      wx.showToast({ title: errors.message(err, '保存失败，请重试'), icon: 'none' }); // the drawing stays on the canvas
    } finally {
      this.setData({ saving: false });
    }
  },

  async remove(e) {
    const id = e.currentTarget.dataset.id;
    try {
      const res = await session.request({ url: url('/delete'), method: 'POST', data: { id } });
      if (!res.data || typeof res.data !== 'object' || res.data.code !== 0) {
        throw Object.assign(new Error('delete'), { reason: res.data && res.data.error, status: res.statusCode });
      }
      await this.list();
    } catch (err) {
      wx.showToast({ title: errors.message(err, '删除失败，请重试'), icon: 'none' });
    }
  },
});
