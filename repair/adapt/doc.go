// Package adapt connects repair's pure logic to the real world: Target over
// the spdk client, Disk over the base devices (read-only, O_DIRECT, in
// recovery terms), and Journal over the badger journal. Nothing here decides
// anything; repair does.
package adapt
