// Package nobody runs a test body as a user that file modes apply to, so
// that tests of permission handling (EACCES from a mode-000 file) run for
// real on machines and CI runners where the tests run as root, which file
// modes do not bind.
//
// When the test process is not root, [Run] calls the body in process.
// When it is root, Run prepares the fixture as root, then re-executes the
// test binary for just that test as uid and gid 65534 (nobody, nogroup)
// and fails the test unless the child passed; see Run for the steps.
//
// The package is named after that account, the thing it lends the test.
// It owns nothing used in production and must only be imported from
// _test.go files.
package nobody
