package serve

import "errors"

// Answers of a content check (WeChat's content security, which names the writer, so a login is
// needed): apps refuse content with ErrContentRefused and ask for a login with ErrSignIn; any other
// error means the check could not be made, and nothing is published unchecked.
var (
	ErrSignIn         = errors.New("sign in first: content is checked with WeChat's content security")
	ErrContentRefused = errors.New("content refused by WeChat's content security")
)
