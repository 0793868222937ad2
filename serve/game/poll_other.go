//go:build !linux

package game

import (
	"errors"
	"syscall"
)

// poller is Linux's alone; elsewhere every connection keeps a reading goroutine.
type poller struct{}

func thePoller() (*poller, error) { return nil, errors.New("no epoll on this system") }

func watchable(c *conn) bool       { return false }
func (p *poller) add(c *conn) bool { return false }
func (p *poller) rearm(c *conn)    {}
func (p *poller) remove(c *conn)   {}

func (c *conn) readNow(buf []byte) (int, error) { return 0, syscall.ENOTSUP }

func wouldBlock(err error) bool { return false }

func (c *conn) writeNow(b []byte) (int, error) { return 0, syscall.ENOTSUP }
