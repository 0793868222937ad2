package tencent

import "strings"

// Hint is the fix of the API errors in err, or "". Of several (steps read in parallel), a refused key
// comes first: it explains the others.
func Hint(err error) string {
	var found []*APIError
	var walk func(error)
	walk = func(e error) {
		if ae, ok := e.(*APIError); ok {
			found = append(found, ae)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	var hint string
	for _, ae := range found {
		if ae.Fix != "" && strings.HasPrefix(ae.Code, "AuthFailure") {
			return ae.Fix
		}
		if ae.Fix != "" && hint == "" {
			hint = ae.Fix
		}
	}
	return hint
}
