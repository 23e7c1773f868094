package sim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/lvfsck/lvfsck/spdk"
)

// NVMe-oF target model: transports, subsystems, listeners and namespaces,
// with the JSON shapes and error answers of the real target
// (fixtures/reload.exported*.nvmf_get_subsystems.json, reload.transcript;
// answers from lib/nvmf/nvmf_rpc.c). Nothing listens on a network: a
// listener is only recorded. Nothing of it is persisted (spdk_tgt keeps
// NVMe-oF configuration in memory only: after a restart it is gone).

// DiscoveryNQN is the discovery subsystem every NVMe-oF target has.
const DiscoveryNQN = "nqn.2014-08.org.nvmexpress.discovery"

// Subsystem defaults of SPDK v24.09 (as nvmf_get_subsystems shows them).
const (
	nvmfDefaultSN     = "00000000000000000000"
	nvmfDefaultMN     = "SPDK bdev Controller"
	nvmfDefaultMaxNS  = 32
	nvmfMinCntlid     = 1
	nvmfMaxCntlid     = 0xffef
	nvmfMaxSubsystems = 1024
	// ClaimExclusiveWrite is the claim an NVMe-oF namespace takes on its
	// bdev (spdk_bdev_module_claim_bdev; bdev_get_bdevs shows it as
	// claim_type "exclusive_write", seen in reload.transcript).
	ClaimExclusiveWrite = "exclusive_write"
	// ClaimReadManyWriteOne is an lvstore's claim on its base bdev.
	ClaimReadManyWriteOne = "read_many_write_one"
)

// listenAddrJSON always sends trsvcid, even empty, and nsJSON nguid and
// uuid; spdk.NvmfListenAddress and spdk.NvmfNamespace omit them when empty.
type listenAddrJSON struct {
	Trtype  string `json:"trtype"`
	Adrfam  string `json:"adrfam"`
	Traddr  string `json:"traddr"`
	Trsvcid string `json:"trsvcid"`
}

type nsJSON struct {
	NSID     uint32 `json:"nsid"`
	BdevName string `json:"bdev_name"`
	Name     string `json:"name"`
	NGUID    string `json:"nguid"`
	UUID     string `json:"uuid"`
}

// subsystemJSON is one nvmf_get_subsystems element; the NVMe-only fields
// are pointers so the discovery subsystem omits them, as the real answer,
// while an NVMe subsystem sends them even when zero (spdk.NvmfSubsystem
// omits zero values).
type subsystemJSON struct {
	NQN             string           `json:"nqn"`
	Subtype         string           `json:"subtype"`
	ListenAddresses []listenAddrJSON `json:"listen_addresses"`
	AllowAnyHost    bool             `json:"allow_any_host"`
	Hosts           []spdk.NvmfHost  `json:"hosts"`
	SerialNumber    *string          `json:"serial_number,omitempty"`
	ModelNumber     *string          `json:"model_number,omitempty"`
	MaxNamespaces   *uint32          `json:"max_namespaces,omitempty"`
	MinCntlid       *uint16          `json:"min_cntlid,omitempty"`
	MaxCntlid       *uint16          `json:"max_cntlid,omitempty"`
	Namespaces      *[]nsJSON        `json:"namespaces,omitempty"`
}

type namespace struct {
	nsid  uint32
	bdev  *bdev
	uuid  string
	nguid string // upper-case hex, as nvmf_get_subsystems shows it
}

type subsystem struct {
	nqn          string
	sn, mn       string
	allowAnyHost bool
	maxNS        uint32
	minC, maxC   uint16
	listeners    []listenAddrJSON
	ns           []*namespace // by nsid
}

var errNvmfInvalid = &RPCError{Code: codeInvalidParams, Message: "Invalid parameters"}

func (t *Target) subsystemByNQN(nqn string) *subsystem {
	for _, s := range t.subsystems {
		if s.nqn == nqn {
			return s
		}
	}
	return nil
}

// nvmfParams marks the params of the nvmf methods, whose decode failures
// all answer errNvmfInvalid.
type nvmfParams struct{}

func (nvmfParams) decodeError() *RPCError { return errNvmfInvalid }

func (t *Target) rpcNvmfCreateTransport(r *request) (any, *RPCError) {
	// The real decoder is relaxed: every other option is accepted; only
	// trtype matters here. Only TCP exists (the captured build's transport).
	var m map[string]json.RawMessage
	if r.Params == nil || json.Unmarshal(r.Params, &m) != nil {
		return nil, errNvmfInvalid
	}
	var trtype string
	if v, ok := m["trtype"]; !ok || json.Unmarshal(v, &trtype) != nil || trtype == "" {
		return nil, errNvmfInvalid
	}
	tr := strings.ToUpper(trtype)
	if tr != "TCP" {
		return nil, &RPCError{Code: codeInvalidParams, Message: fmt.Sprintf("Invalid transport type '%s'", trtype)}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.transports[tr] {
		return nil, &RPCError{Code: codeInternalError, Message: fmt.Sprintf("Transport type '%s' already exists", trtype)}
	}
	t.transports[tr] = true
	return true, nil
}

// nvmfCreateSubsystemParams are the params of nvmf_create_subsystem.
type nvmfCreateSubsystemParams struct {
	nvmfParams
	NQN                   string  `json:"nqn"`
	SerialNumber          *string `json:"serial_number"`
	ModelNumber           *string `json:"model_number"`
	TgtName               string  `json:"tgt_name"`
	MaxNamespaces         uint32  `json:"max_namespaces"`
	AllowAnyHost          bool    `json:"allow_any_host"`
	AnaReporting          bool    `json:"ana_reporting"`
	MinCntlid             *uint16 `json:"min_cntlid"`
	MaxCntlid             *uint16 `json:"max_cntlid"`
	MaxDiscardSizeKiB     uint64  `json:"max_discard_size_kib"`
	MaxWriteZeroesSizeKiB uint64  `json:"max_write_zeroes_size_kib"`
	Passthrough           bool    `json:"passthrough"`
}

func (t *Target) rpcNvmfCreateSubsystem(r *request, p *nvmfCreateSubsystemParams) (any, *RPCError) {
	if !validNQN(p.NQN) || t.subsystemByNQN(p.NQN) != nil || len(t.subsystems) >= nvmfMaxSubsystems {
		t.log.logf(srcNvmfCreateSub, lvlError, "Unable to create subsystem %s", p.NQN)
		return nil, &RPCError{Code: codeInternalError, Message: "Unable to create subsystem " + p.NQN}
	}
	s := &subsystem{nqn: p.NQN, sn: nvmfDefaultSN, mn: nvmfDefaultMN, allowAnyHost: p.AllowAnyHost,
		maxNS: nvmfDefaultMaxNS, minC: nvmfMinCntlid, maxC: nvmfMaxCntlid}
	if p.MaxNamespaces != 0 {
		s.maxNS = min(p.MaxNamespaces, 1024)
	}
	if p.SerialNumber != nil {
		if len(*p.SerialNumber) == 0 || len(*p.SerialNumber) > 20 {
			return nil, &RPCError{Code: codeInvalidParams, Message: "Invalid SN " + *p.SerialNumber}
		}
		s.sn = *p.SerialNumber
	}
	if p.ModelNumber != nil {
		if len(*p.ModelNumber) == 0 || len(*p.ModelNumber) > 40 {
			return nil, &RPCError{Code: codeInvalidParams, Message: "Invalid MN " + *p.ModelNumber}
		}
		s.mn = *p.ModelNumber
	}
	if p.MinCntlid != nil {
		s.minC = *p.MinCntlid
	}
	if p.MaxCntlid != nil {
		s.maxC = *p.MaxCntlid
	}
	if s.minC < nvmfMinCntlid || s.maxC > nvmfMaxCntlid || s.minC > s.maxC {
		return nil, &RPCError{Code: codeInvalidParams, Message: fmt.Sprintf("Invalid cntlid range [%d-%d]", s.minC, s.maxC)}
	}
	t.subsystems = append(t.subsystems, s)
	return true, nil
}

// validNQN is the shape spdk_nvmf_subsystem_create accepts: "nqn." and at
// most 223 bytes.
func validNQN(nqn string) bool {
	return strings.HasPrefix(nqn, "nqn.") && len(nqn) <= 223 && nqn != DiscoveryNQN
}

// nvmfDeleteSubsystemParams are the params of nvmf_delete_subsystem.
type nvmfDeleteSubsystemParams struct {
	nvmfParams
	NQN     string `json:"nqn"`
	TgtName string `json:"tgt_name"`
}

func (t *Target) rpcNvmfDeleteSubsystem(r *request, p *nvmfDeleteSubsystemParams) (any, *RPCError) {
	s := t.subsystemByNQN(p.NQN)
	if s == nil {
		return nil, errNvmfInvalid
	}
	for _, ns := range s.ns {
		ns.bdev.claim = ""
	}
	for i, x := range t.subsystems {
		if x == s {
			t.subsystems = append(t.subsystems[:i], t.subsystems[i+1:]...)
			break
		}
	}
	return true, nil
}

// nvmfAddListenerParams are the params of nvmf_subsystem_add_listener.
type nvmfAddListenerParams struct {
	nvmfParams
	NQN           string `json:"nqn"`
	TgtName       string `json:"tgt_name"`
	ListenAddress struct {
		Trtype  string `json:"trtype"`
		Adrfam  string `json:"adrfam"`
		Traddr  string `json:"traddr"`
		Trsvcid string `json:"trsvcid"`
	} `json:"listen_address"`
	SecureChannel bool   `json:"secure_channel"`
	AnaState      string `json:"ana_state"`
	SockImpl      string `json:"sock_impl"`
}

func (t *Target) rpcNvmfAddListener(r *request, p *nvmfAddListenerParams) (any, *RPCError) {
	a := p.ListenAddress
	if a.Traddr == "" {
		return nil, errNvmfInvalid
	}
	s := t.subsystemByNQN(p.NQN)
	if s == nil {
		return nil, errNvmfInvalid
	}
	l := listenAddrJSON{Trtype: strings.ToUpper(a.Trtype), Traddr: a.Traddr, Trsvcid: a.Trsvcid}
	switch strings.ToLower(a.Adrfam) {
	case "ipv4", "":
		l.Adrfam = "IPv4"
	case "ipv6":
		l.Adrfam = "IPv6"
	default:
		return nil, errNvmfInvalid
	}
	if !t.transports[l.Trtype] {
		// "The transport must be created first".
		t.log.logf(srcNvmfListen, lvlError, "Unable to find %s transport. The transport must be created first also make sure it is properly registered.", a.Trtype)
		return nil, errNvmfInvalid
	}
	for _, x := range s.listeners {
		if x == l {
			return nil, errNvmfInvalid
		}
	}
	s.listeners = append(s.listeners, l)
	return true, nil
}

func (t *Target) rpcNvmfAddNS(r *request) (any, *RPCError) {
	// The real decoder is relaxed at the top level, strict inside namespace.
	var top struct {
		NQN       string          `json:"nqn"`
		Namespace json.RawMessage `json:"namespace"`
	}
	if r.Params == nil || json.Unmarshal(r.Params, &top) != nil || top.NQN == "" || top.Namespace == nil {
		return nil, errNvmfInvalid
	}
	var ns struct {
		NSID          uint32 `json:"nsid"`
		BdevName      string `json:"bdev_name"`
		PtplFile      string `json:"ptpl_file"`
		NGUID         string `json:"nguid"`
		EUI64         string `json:"eui64"`
		UUID          string `json:"uuid"`
		Anagrpid      uint32 `json:"anagrpid"`
		NoAutoVisible bool   `json:"no_auto_visible"`
	}
	if e := decode(&request{Params: top.Namespace}, &ns, "bdev_name"); e != nil {
		return nil, errNvmfInvalid
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.subsystemByNQN(top.NQN)
	if s == nil {
		t.log.logf(srcNvmfAddNS, lvlError, "Unable to find subsystem with NQN %s", top.NQN)
		return nil, errNvmfInvalid
	}
	fail := func() (any, *RPCError) {
		t.log.logf(srcNvmfAddNSPaus, lvlError, "Unable to add namespace")
		return nil, errNvmfInvalid
	}
	b := t.bdevByName(ns.BdevName)
	if b == nil || b.claim != "" {
		return fail()
	}
	nsid := ns.NSID
	if nsid == 0 {
		for nsid = 1; nsid <= s.maxNS && s.nsByID(nsid) != nil; nsid++ {
		}
	}
	if nsid > s.maxNS || s.nsByID(nsid) != nil {
		return fail()
	}
	// Without a uuid or nguid the namespace takes the bdev's uuid for both
	// (spdk_nvmf_subsystem_add_ns_ext).
	n := &namespace{nsid: nsid, bdev: b, uuid: b.uuid, nguid: hexID(b.uuid)}
	if ns.UUID != "" {
		n.uuid = ns.UUID
	}
	if ns.NGUID != "" {
		if !isHex(hexID(ns.NGUID), 32) {
			return nil, errNvmfInvalid // decode_ns_nguid: 16 bytes in hex
		}
		n.nguid = hexID(ns.NGUID)
	}
	b.claim = ClaimExclusiveWrite
	s.ns = append(s.ns, n)
	sort.Slice(s.ns, func(i, j int) bool { return s.ns[i].nsid < s.ns[j].nsid })
	return nsid, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789ABCDEF", c) {
			return false
		}
	}
	return true
}

func hexID(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "")) }

func (s *subsystem) nsByID(id uint32) *namespace {
	for _, n := range s.ns {
		if n.nsid == id {
			return n
		}
	}
	return nil
}

// nvmfRemoveNSParams are the params of nvmf_subsystem_remove_ns.
type nvmfRemoveNSParams struct {
	nvmfParams
	NQN     string `json:"nqn"`
	NSID    uint32 `json:"nsid"`
	TgtName string `json:"tgt_name"`
}

func (t *Target) rpcNvmfRemoveNS(r *request, p *nvmfRemoveNSParams) (any, *RPCError) {
	s := t.subsystemByNQN(p.NQN)
	if s == nil {
		return nil, errNvmfInvalid
	}
	n := s.nsByID(p.NSID)
	if n == nil {
		t.log.logf(srcNvmfRemoveNS, lvlError, "Unable to remove namespace ID %d", p.NSID)
		return nil, errNvmfInvalid
	}
	s.removeNS(n)
	return true, nil
}

func (s *subsystem) removeNS(n *namespace) {
	for i, x := range s.ns {
		if x == n {
			s.ns = append(s.ns[:i], s.ns[i+1:]...)
			break
		}
	}
	n.bdev.claim = ""
}

// hotRemoveNS drops every namespace on b, as the NVMe-oF target does when
// a bdev it exports is unregistered (nvmf_ns_hot_remove): silently, no log
// line at the default level, no error to anyone (fixtures/reload: the
// namespace of an lvol went with its lvstore's base bdev). Caller holds mu.
func (t *Target) hotRemoveNS(b *bdev) {
	for _, s := range t.subsystems {
		for _, n := range append([]*namespace(nil), s.ns...) {
			if n.bdev == b {
				s.removeNS(n)
			}
		}
	}
}

// nvmfGetSubsystemsParams are the params of nvmf_get_subsystems.
type nvmfGetSubsystemsParams struct {
	nvmfParams
	NQN     string `json:"nqn"`
	TgtName string `json:"tgt_name"`
}

func (t *Target) rpcNvmfGetSubsystems(r *request, p *nvmfGetSubsystemsParams) (any, *RPCError) {
	out := []subsystemJSON{}
	if p.NQN == "" || p.NQN == DiscoveryNQN {
		out = append(out, subsystemJSON{NQN: DiscoveryNQN, Subtype: "Discovery",
			ListenAddresses: []listenAddrJSON{}, AllowAnyHost: true, Hosts: []spdk.NvmfHost{}})
	}
	found := p.NQN == "" || p.NQN == DiscoveryNQN
	for _, s := range t.subsystems {
		if p.NQN != "" && s.nqn != p.NQN {
			continue
		}
		found = true
		out = append(out, s.view())
	}
	if !found {
		t.log.logf(srcNvmfGetSubs, lvlError, "subsystem '%s' does not exist", p.NQN)
		return nil, errNoDev
	}
	return out, nil
}

func (s *subsystem) view() subsystemJSON {
	sn, mn, maxNS, minC, maxC := s.sn, s.mn, s.maxNS, s.minC, s.maxC
	nss := []nsJSON{}
	for _, n := range s.ns {
		nss = append(nss, nsJSON{NSID: n.nsid, BdevName: n.bdev.name, Name: n.bdev.name,
			NGUID: n.nguid, UUID: n.uuid})
	}
	return subsystemJSON{
		NQN: s.nqn, Subtype: "NVMe", ListenAddresses: append([]listenAddrJSON{}, s.listeners...),
		AllowAnyHost: s.allowAnyHost, Hosts: []spdk.NvmfHost{}, SerialNumber: &sn, ModelNumber: &mn,
		MaxNamespaces: &maxNS, MinCntlid: &minC, MaxCntlid: &maxC, Namespaces: &nss,
	}
}
