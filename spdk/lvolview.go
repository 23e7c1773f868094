package spdk

import "strings"

// An lvol's live view takes two answers: v24.09's bdev_lvol_get_lvols has
// no base snapshot and no clone list, while the lvol's bdev (named by its
// uuid) has both in driver_specific.lvol; an lvstore's device file is in
// its base bdev's driver_specific.aio. Every reader of the live view
// (check's, repair's) merges them through these.

// AioFilename is the file of an AIO bdev, "" for any other.
func (b *Bdev) AioFilename() string {
	if b == nil || b.DriverSpecific == nil || b.DriverSpecific.Aio == nil {
		return ""
	}
	return b.DriverSpecific.Aio.Filename
}

// LvolDriver is driver_specific.lvol, nil when b is not an lvol bdev.
func (b *Bdev) LvolDriver() *LvolDriver {
	if b == nil || b.DriverSpecific == nil {
		return nil
	}
	return b.DriverSpecific.Lvol
}

// SizeBytes is num_blocks*block_size, 0 when unknown or beyond 64 bits.
func (b *Bdev) SizeBytes() uint64 {
	if b.BlockSize == 0 || b.NumBlocks > ^uint64(0)/b.BlockSize {
		return 0
	}
	return b.NumBlocks * b.BlockSize
}

// BdevIndex finds the bdevs of one bdev_get_bdevs answer by name or alias.
type BdevIndex map[string]*Bdev

// IndexBdevs indexes bs; a bdev's own name wins over another's alias, and
// the first of two bdevs of one name wins.
func IndexBdevs(bs []Bdev) BdevIndex {
	ix := make(BdevIndex, len(bs))
	for i := range bs {
		if _, dup := ix[bs[i].Name]; !dup {
			ix[bs[i].Name] = &bs[i]
		}
	}
	// Aliases second, so a bdev's own name always wins over another's alias.
	for i := range bs {
		for _, al := range bs[i].Aliases {
			if _, dup := ix[al]; !dup {
				ix[al] = &bs[i]
			}
		}
	}
	return ix
}

// LvolBdev is the bdev of lvol l: named by its uuid (in either case), else
// aliased by its lvstore/name; nil when bdev_get_bdevs did not list it.
func (ix BdevIndex) LvolBdev(l Lvol) *Bdev {
	if b := ix[l.UUID]; b != nil {
		return b
	}
	if b := ix[strings.ToLower(l.UUID)]; b != nil {
		return b
	}
	if l.Alias != "" {
		return ix[l.Alias]
	}
	return nil
}
