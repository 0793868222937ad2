const config = require('../../config.js');
const { call } = require('../../lib/wxp.js');
const session = require('../../lib/session.js');
const errors = require('../../lib/errors.js');
const http = require('../../lib/http.js');

const base = () => config.host + '/applet/album';
const MAX_MB = 5; // album.max_upload_mb; the server says so too
const TYPES = /\.(jpe?g|png)$/i;

// denied tells whether a wx API failed for a permission or the privacy guide, and what to say.
function denied(err) {
  const m = (err && err.errMsg) || '';
  if (/privacy|112/.test(m) || (err && err.errno === 112)) return '请先在小程序的隐私保护指引中声明相册和相机权限';
  if (/auth|deny|denied|permission/i.test(m)) return '需要你允许访问相册，请在设置中打开';
  return '';
}

Page({
  data: { images: [], mine: {}, ownerCheck: false, next: '', loading: false, loaded: false, error: '', progress: -1 },

  onLoad() {
    return this.refresh();
  },

  onPullDownRefresh() {
    return this.refresh().then(() => wx.stopPullDownRefresh());
  },

  onReachBottom() {
    if (this.data.next && !this.data.loading) return this.load(this.data.next);
  },

  refresh() {
    return this.load('');
  },

  async load(marker) {
    if (this.data.loading) return; // a fast scroll asks for the same page twice
    this.setData({ loading: true, error: '' });
    try {
      const url = base() + '/list?limit=30' + (marker ? '&marker=' + encodeURIComponent(marker) : '');
      // With owner checks the list, signed in, says which images are mine.
      const res = this.data.ownerCheck ? await session.request({ url, method: 'GET' }) : await call(wx.request, { url, method: 'GET' });
      const d = http.check(res);
      if (d.ownerCheck && !this.data.ownerCheck) {
        this.setData({ ownerCheck: true, loading: false });
        return this.load(marker);
      }
      const mine = marker ? Object.assign({}, this.data.mine) : {};
      (d.owned || []).forEach((u) => { mine[u] = true; });
      this.setData({ images: (marker ? this.data.images : []).concat(d.data), mine, next: d.next || '', loaded: true });
    } catch (err) {
      this.setData({ error: errors.message(err, '加载失败') });
    } finally {
      this.setData({ loading: false });
    }
  },

  canDelete(url) {
    return !this.data.ownerCheck || !!this.data.mine[url];
  },

  async chooseImage() {
    let chosen;
    try {
      chosen = await call(wx.chooseMedia, { count: 1, mediaType: ['image'], sizeType: ['compressed'] });
    } catch (err) {
      const why = denied(err);
      if (why) return this.explain(why);
      return; // the user cancelled
    }
    const file = chosen.tempFiles[0];
    if (!TYPES.test(file.tempFilePath)) return wx.showToast({ title: '仅支持 jpg/png 图片', icon: 'none' });
    if (file.size > MAX_MB * 1024 * 1024) return wx.showToast({ title: '单个不超过' + MAX_MB + 'MB', icon: 'none' });
    return this.upload(file.tempFilePath);
  },

  // upload sends the image with its progress on the page; with owner checks, signed in.
  async upload(filePath) {
    this.setData({ progress: 0 });
    const send = (header) => new Promise((resolve, reject) => {
      const task = wx.uploadFile({ url: base() + '/upload', filePath, name: 'image', header, success: resolve, fail: reject });
      if (task && task.onProgressUpdate) task.onProgressUpdate((p) => this.setData({ progress: p.progress }));
    });
    try {
      const signed = this.data.ownerCheck || this.needLogin;
      const res = signed ? await session.withSession(send) : await send({});
      let d;
      try {
        d = http.check(res);
      } catch (err) {
        if (err.name === 'UserError' && err.body && err.body.msg === '请先登录' && !signed) {
          // The server wants a login for uploads (owner or content checks): sign in and send again.
          this.needLogin = true;
          d = http.check(await session.withSession(send));
        } else {
          throw err;
        }
      }
      const mine = Object.assign({}, this.data.mine, { [d.data.imgUrl]: true });
      this.setData({ images: [d.data.imgUrl].concat(this.data.images), mine });
      wx.showToast({ title: '上传成功' });
    } catch (err) {
      wx.showToast({ title: errors.message(err, '上传失败，请重试'), icon: 'none' });
    } finally {
      this.setData({ progress: -1 });
    }
  },

  async explain(why) {
    const r = await call(wx.showModal, { title: '需要权限', content: why, confirmText: '去设置' }).catch(() => null);
    if (r && r.confirm && wx.openSetting) wx.openSetting({});
  },

  previewImage(e) {
    wx.previewImage({ current: e.currentTarget.dataset.url, urls: this.data.images });
  },

  // Long press: save to the phone's album, or delete (only one's own with owner checks).
  async onLongPress(e) {
    const url = e.currentTarget.dataset.url;
    const items = this.canDelete(url) ? ['保存到手机', '删除'] : ['保存到手机'];
    const sheet = await call(wx.showActionSheet, { itemList: items }).catch(() => null);
    if (!sheet) return;
    return sheet.tapIndex === 0 ? this.saveImage(url) : this.deleteImage(url);
  },

  async saveImage(url) {
    try {
      const file = await call(wx.downloadFile, { url });
      if (file.statusCode !== 200) throw new errors.HTTPError(file.statusCode, '');
      await call(wx.saveImageToPhotosAlbum, { filePath: file.tempFilePath });
      wx.showToast({ title: '已保存' });
    } catch (err) {
      const why = denied(err);
      if (why) return this.explain(why.replace('访问相册', '保存到相册'));
      wx.showToast({ title: errors.message(err, '保存失败'), icon: 'none' });
    }
  },

  async deleteImage(url) {
    const ok = await call(wx.showModal, { title: '删除图片', content: '删除后无法恢复，确定删除吗？', confirmText: '删除' }).catch(() => null);
    if (!ok || !ok.confirm) return;
    // The album deletes by the image URL's path.
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    const opts = { url: base() + '/delete', method: 'POST', data: { filepath: path } };
    try {
      http.check(this.data.ownerCheck || this.needLogin ? await session.request(opts) : await call(wx.request, opts));
      const mine = Object.assign({}, this.data.mine);
      delete mine[url];
      this.setData({ images: this.data.images.filter((u) => u !== url), mine });
      wx.showToast({ title: '已删除' });
    } catch (err) {
      const forbidden = err.reason && /forbidden/.test(String(err.reason));
      wx.showToast({ title: forbidden ? '只能删除自己上传的图片' : errors.message(err, '删除失败，请重试'), icon: 'none' });
    }
  },
});
