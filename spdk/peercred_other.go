//go:build !linux

package spdk

import (
	"errors"
	"net"
)

func peerPID(net.Conn) (int, error) {
	return 0, errors.New("SO_PEERCRED is linux-only")
}
