package collect

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lvfsck/lvfsck/spdk"
)

// FuzzDecodeAnswer: any bytes decode or fail with ErrCaptured, never panic,
// and whatever decodes builds a live view.
func FuzzDecodeAnswer(f *testing.F) {
	for _, pat := range []string{"*.bdev_lvol_get_lvols.json", "*.bdev_get_bdevs.json", "*.notify_get_notifications.json", "*.bdev_lvol_get_lvstores.json"} {
		files, _ := filepath.Glob(filepath.Join(fixtures, pat))
		for i, p := range files {
			if i >= 3 {
				break
			}
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":[]}`))
	f.Add([]byte(`{"error":{"code":-19}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Answers
		_ = DecodeAnswer(b, &a.Lvols)
		_ = DecodeAnswer(b, &a.Bdevs)
		_ = DecodeAnswer(b, &a.Lvstores)
		a.NotifyAvailable = DecodeAnswer(b, &a.Notifications) == nil
		live := BuildLive(a)
		if len(live.Lvols) != len(a.Lvols) || len(live.Lvstores) != len(a.Lvstores) {
			t.Fatalf("lost entries: %d/%d lvols", len(live.Lvols), len(a.Lvols))
		}
		_ = Devices(live)
		var _ []spdk.Lvol = a.Lvols
	})
}
