//go:build !linux

package pageout

// Text does nothing outside Linux.
func Text() int { return 0 }
