package spdk

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func seedAnswers(f *testing.F) {
	for _, name := range []string{
		"resurrection.after-delete.bdev_lvol_get_lvols.json",
		"resurrection.after-delete.bdev_get_bdevs.json",
		"notify.after-delete.notify_get_notifications.json",
		"reload.exported.nvmf_get_subsystems.json",
	} {
		b, err := os.ReadFile(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"result":%s}{"jsonrpc":"2.0","id":2,"result":true}`, b)))
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Device or resource busy"}}{"id":1,"result":1}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`))
	f.Add([]byte(`{"id":1,"result":[1,2`))
	f.Add([]byte("\x00\xff}{"))
	f.Add([]byte(`{"id":18446744073709551616,"result":1}`))
}

// FuzzAnswerStream feeds arbitrary bytes to a connection's reader with two
// calls pending: both must get a reply once the peer closes, never a panic
// or a hang.
func FuzzAnswerStream(f *testing.F) {
	seedAnswers(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		c := newConn(client, 1<<16)
		ch1, err1 := c.register(1)
		ch2, err2 := c.register(2)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		go func() {
			_, _ = server.Write(data)
			_ = server.Close()
		}()
		for _, ch := range []chan reply{ch1, ch2} {
			select {
			case r := <-ch:
				n := 0
				if r.err != nil {
					n++
				}
				if r.rpcErr != nil {
					n++
				}
				if r.result != nil {
					n++
				}
				if n != 1 {
					t.Fatalf("reply %+v carries %d outcomes", r, n)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no reply: reader hangs")
			}
		}
		c.fail(ErrClosed)
	})
}

// FuzzDecodeViews decodes arbitrary JSON into every result type.
func FuzzDecodeViews(f *testing.F) {
	for _, pattern := range []string{"*.bdev_get_bdevs.json", "*.bdev_lvol_get_lvols.json", "*.nvmf_get_subsystems.json"} {
		m, _ := filepath.Glob(filepath.Join(fixtures, pattern))
		for _, p := range m[:1] {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`[{"driver_specific":{"lvol":null,"x":1}}]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		targets := []any{new([]Bdev), new([]Lvol), new([]Lvstore), new([]NvmfSubsystem), new([]Notification), new(Iostat), new(ShallowCopyStatus), new(Version), new(RPCError)}
		for _, v := range targets {
			if json.Unmarshal(b, v) == nil {
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("%T decodes but does not encode: %v", v, err)
				}
			}
		}
	})
}
