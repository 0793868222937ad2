const config = require('../../config.js');
const errors = require('../../lib/errors.js');
const http = require('../../lib/http.js');

Page({
  data: { list: [], pageNo: 0, totalPage: 1, loading: false, loaded: false, error: '' },

  onLoad() {
    return this.loadMore();
  },

  onReachBottom() {
    return this.loadMore();
  },

  onPullDownRefresh() {
    return this.refresh().then(() => wx.stopPullDownRefresh());
  },

  // refresh starts again from the first page (also the retry of a failed first load).
  refresh() {
    if (this.data.loading) return Promise.resolve();
    this.setData({ pageNo: 0, totalPage: 1 });
    return this.loadMore(true);
  },

  async loadMore(fresh) {
    if (this.data.loading || this.data.pageNo >= this.data.totalPage) return; // one page at a time
    const pageNo = this.data.pageNo + 1;
    this.setData({ loading: true, error: '' });
    try {
      const d = await http.getJSON(config.host + '/applet/video/list?pageNo=' + pageNo);
      this.setData({ list: (fresh ? [] : this.data.list).concat(d.data.list), pageNo, totalPage: d.data.totalPage, loaded: true });
    } catch (err) {
      this.setData({ error: errors.message(err, '加载失败') });
    } finally {
      this.setData({ loading: false });
    }
  },

  retry() {
    return this.data.pageNo === 0 ? this.refresh() : this.loadMore();
  },

  openVideo(e) {
    const v = this.data.list[e.currentTarget.dataset.index];
    wx.navigateTo({ url: '/pages/detail/detail?id=' + v.id + '&title=' + encodeURIComponent(v.video_title) + '&src=' + encodeURIComponent(v.video_url) });
  },
});
