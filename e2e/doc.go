// Package e2e holds end-to-end tests: they build the real lvfsck binary,
// run `lvfsck sim serve` in child processes and drive them over real unix
// sockets with the spdk client. There is no non-test code here.
package e2e
