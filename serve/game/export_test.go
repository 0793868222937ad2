package game

// SetPolling turns the poller off (a goroutine per connection, as where there is no epoll) or back
// on, for the connections accepted after it; it returns the previous setting.
func SetPolling(on bool) bool {
	was := !noPoller.Load()
	noPoller.Store(!on)
	return was
}
