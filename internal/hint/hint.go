// Package hint is an error that carries the one thing to try next. Domain packages return it where
// they know the fix; the command layer prints the hint below the error.
package hint

// Error is a failure with the one thing to try next.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New wraps err with the hint.
func New(err error, hint string) error { return &Error{Err: err, Hint: hint} }
