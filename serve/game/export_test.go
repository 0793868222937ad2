package game

import "time"

// SetPolling turns the poller off (a goroutine per connection, as where there is no epoll) or back
// on, for the connections accepted after it; it returns the previous setting.
func SetPolling(on bool) bool {
	was := !noPoller.Load()
	noPoller.Store(!on)
	return was
}

// SlowAccept makes accept pause after the handshake, for the duration of a test.
func SlowAccept(t interface{ Cleanup(func()) }, d time.Duration) {
	acceptPause.Store(int64(d))
	t.Cleanup(func() { acceptPause.Store(0) })
}
