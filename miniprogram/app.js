App({
  onLaunch() {},
  globalData: {},
});
