const config = require('../../config.js');
const { call } = require('../../lib/wxp.js');

const base = () => config.host + '/applet/album';

Page({
  data: { images: [], next: '', loading: false, error: '' },

  onLoad() {
    return this.refresh();
  },

  onPullDownRefresh() {
    return this.refresh().then(() => wx.stopPullDownRefresh());
  },

  onReachBottom() {
    if (this.data.next) return this.load(this.data.next);
  },

  refresh() {
    this.setData({ images: [], next: '' });
    return this.load('');
  },

  async load(marker) {
    this.setData({ loading: true, error: '' });
    try {
      const url = base() + '/list?limit=30' + (marker ? '&marker=' + encodeURIComponent(marker) : '');
      const res = await call(wx.request, { url, method: 'GET' });
      if (res.data.code !== 0) throw new Error(res.data.msg);
      this.setData({ images: this.data.images.concat(res.data.data), next: res.data.next || '' });
    } catch (err) {
      this.setData({ error: '加载失败：' + (err.message || err.errMsg) });
    } finally {
      this.setData({ loading: false });
    }
  },

  async chooseImage() {
    let chosen;
    try {
      chosen = await call(wx.chooseMedia, { count: 1, mediaType: ['image'], sizeType: ['compressed'] });
    } catch (err) {
      return; // the user cancelled
    }
    wx.showLoading({ title: '上传中' });
    try {
      const res = await call(wx.uploadFile, { url: base() + '/upload', filePath: chosen.tempFiles[0].tempFilePath, name: 'image' });
      const body = JSON.parse(res.data);
      if (body.code !== 0) throw new Error(body.msg);
      this.setData({ images: [body.data.imgUrl].concat(this.data.images) });
      wx.showToast({ title: '上传成功' });
    } catch (err) {
      wx.showToast({ title: err.message || '上传失败', icon: 'none' });
    } finally {
      wx.hideLoading();
    }
  },

  previewImage(e) {
    wx.previewImage({ current: e.currentTarget.dataset.url, urls: this.data.images });
  },

  // Long press: save to the phone's album, or delete.
  async onLongPress(e) {
    const url = e.currentTarget.dataset.url;
    const sheet = await call(wx.showActionSheet, { itemList: ['保存到手机', '删除'] }).catch(() => null);
    if (!sheet) return;
    return sheet.tapIndex === 0 ? this.saveImage(url) : this.deleteImage(url);
  },

  async saveImage(url) {
    try {
      const file = await call(wx.downloadFile, { url });
      if (file.statusCode !== 200) throw new Error('HTTP ' + file.statusCode);
      await call(wx.saveImageToPhotosAlbum, { filePath: file.tempFilePath });
      wx.showToast({ title: '已保存' });
    } catch (err) {
      wx.showToast({ title: '保存失败', icon: 'none' });
    }
  },

  async deleteImage(url) {
    // The album deletes by the image URL's path.
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    const res = await call(wx.request, { url: base() + '/delete', method: 'POST', data: { filepath: path } });
    if (res.data.code !== 0) {
      wx.showToast({ title: (res.data.data && res.data.data.message) || '删除失败', icon: 'none' });
      return;
    }
    this.setData({ images: this.data.images.filter((u) => u !== url) });
  },
});
