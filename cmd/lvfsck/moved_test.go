package main

import "github.com/lvfsck/lvfsck/logimport"

// The CLI tests predate the move of log import into its package and name
// its internals; these aliases keep them as they were.
type importDoc = logimport.Doc

const (
	maxNotable = logimport.MaxNotable
	maxSource  = logimport.MaxSource
)

var sourceName = logimport.SourceName
