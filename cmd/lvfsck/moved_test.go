package main

import (
	"github.com/lvfsck/lvfsck/logimport"
	"github.com/lvfsck/lvfsck/report"
	"github.com/lvfsck/lvfsck/session"
)

// The CLI tests predate the move of log import into its package and name
// its internals; these aliases keep them as they were.
type importDoc = logimport.Doc

const (
	maxNotable = logimport.MaxNotable
	maxSource  = logimport.MaxSource
)

var sourceName = logimport.SourceName

// Repair's reload marks moved to session.
const eventReloadBegin = session.EventReloadBegin

var openReloads = session.OpenReloads

// The delete and repair documents moved to report.
type (
	deleteDoc = report.DeleteDoc
	repairDoc = report.RepairDoc
)
