package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// ManifestVersion is the version of the manifest format this package writes
// (docs/format/checkpoint.md). It reads versions MinManifestVersion to ManifestVersion and rejects
// others. Version 2 added the spill-store files of a part (Part.Files).
const ManifestVersion = 2

// MinManifestVersion is the oldest manifest version this package reads.
const MinManifestVersion = 1

// ManifestName is the name of the manifest inside a checkpoint folder. Its presence makes the
// checkpoint complete.
const ManifestName = "MANIFEST.json"

// manifestTmpName is where the manifest is written before it is renamed to ManifestName.
const manifestTmpName = ManifestName + ".tmp"

// Kind tells a checkpoint, taken periodically and pruned, from a savepoint, taken on request and
// kept until deleted.
type Kind uint8

const (
	// KindCheckpoint is a periodic checkpoint, kept while it is among the newest Options.Retain.
	KindCheckpoint Kind = iota + 1
	// KindSavepoint is a savepoint, kept until DeleteSavepoint.
	KindSavepoint
)

// String returns "checkpoint" or "savepoint", as in the manifest.
func (k Kind) String() string {
	switch k {
	case KindCheckpoint:
		return "checkpoint"
	case KindSavepoint:
		return "savepoint"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// MarshalText encodes the kind as "checkpoint" or "savepoint".
func (k Kind) MarshalText() ([]byte, error) {
	if k != KindCheckpoint && k != KindSavepoint {
		return nil, fmt.Errorf("invalid checkpoint kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes "checkpoint" or "savepoint".
func (k *Kind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "checkpoint":
		*k = KindCheckpoint
	case "savepoint":
		*k = KindSavepoint
	default:
		return fmt.Errorf("kind: %q is not \"checkpoint\" or \"savepoint\"", b)
	}
	return nil
}

// Manifest describes one complete checkpoint or savepoint: which state file holds which operator
// subtask's key groups, where each source split resumes, and the size and checksum of every data
// file. It is stored as JSON in MANIFEST.json; docs/format/checkpoint.md specifies each field.
type Manifest struct {
	// Version is the format version, ManifestVersion. Set by Writer.Commit.
	Version int `json:"version"`
	// ID is the checkpoint id (Flink's checkpoint id): non-negative, increasing over a
	// pipeline's life; checkpoints and savepoints share the sequence. Set by Writer.Commit.
	ID int64 `json:"id"`
	// Kind is checkpoint or savepoint. Set by Writer.Commit.
	Kind Kind `json:"kind"`
	// Pipeline is the name of the pipeline that took the checkpoint.
	Pipeline string `json:"pipeline"`
	// CreatedUnixMs is when the checkpoint was committed, in Unix milliseconds. Writer.Commit
	// sets it when it is zero.
	CreatedUnixMs int64 `json:"created_unix_ms"`
	// MaxParallelism is the number of key groups the keyed state was partitioned into.
	MaxParallelism int `json:"max_parallelism"`
	// Finished reports that the pipeline ran to the end of its bounded input: restoring it
	// has nothing left to do.
	Finished bool `json:"finished"`
	// Operators holds the state of each stateful operator, by UID.
	Operators []OperatorState `json:"operators"`
	// Sources holds the position of each source, by UID.
	Sources []SourceState `json:"sources"`
	// Files lists every data file of the checkpoint with its size and CRC-32C. Filled by
	// Writer.Commit from the files written; callers leave it empty.
	Files []FileInfo `json:"files"`
	// Extra holds other components' data, such as sinks' pending transaction ids, under a key
	// each component owns. Optional.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// OperatorState is the state of one stateful operator.
type OperatorState struct {
	// UID is the operator's stable id; restoring matches state to operators by it.
	UID string `json:"uid"`
	// Name is the operator's display name, for messages.
	Name string `json:"name"`
	// Parallelism is the number of subtasks that wrote the state.
	Parallelism int `json:"parallelism"`
	// Parts lists the state written by each subtask.
	Parts []Part `json:"parts"`
}

// Part is the state one subtask wrote: its key groups and the data file holding them.
type Part struct {
	// Subtask is the index of the subtask that wrote the part, in [0, Parallelism).
	Subtask int `json:"subtask"`
	// KeyGroupStart is the first key group of the part.
	KeyGroupStart int `json:"key_group_start"`
	// KeyGroupEnd is the last key group of the part, inclusive (as Flink's KeyGroupRange).
	KeyGroupEnd int `json:"key_group_end"`
	// File is the data file holding the part, one of Manifest.Files; empty when the subtask had
	// no state.
	File string `json:"file"`
	// Files are the data files of the subtask's spill store (the Pebble state backend's
	// incremental checkpoint), each one of Manifest.Files; absent when the subtask kept its
	// state in memory. Version 2 and later.
	Files []string `json:"files,omitempty"`
}

// SourceState is the position of one source.
type SourceState struct {
	// UID is the source's stable id.
	UID string `json:"uid"`
	// Splits holds the offset to resume from for each split (partition, file …).
	Splits []SplitOffset `json:"splits"`
}

// SplitOffset is where a source split resumes.
type SplitOffset struct {
	// Split is the split's index.
	Split int `json:"split"`
	// Offset is the position to resume from, opaque to the store (base64 in JSON).
	Offset []byte `json:"offset"`
}

// FileInfo describes a data file of a checkpoint.
type FileInfo struct {
	// Name is the file's name inside the checkpoint folder.
	Name string `json:"name"`
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// CRC32C is the CRC-32 (Castagnoli) of the file's contents.
	CRC32C uint32 `json:"crc32c"`
}

// File returns the description of the named data file, or false.
func (m *Manifest) File(name string) (FileInfo, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return FileInfo{}, false
}

// Operator returns the state of the operator with the given UID, or nil.
func (m *Manifest) Operator(uid string) *OperatorState {
	for i := range m.Operators {
		if m.Operators[i].UID == uid {
			return &m.Operators[i]
		}
	}
	return nil
}

// Source returns the position of the source with the given UID, or nil.
func (m *Manifest) Source(uid string) *SourceState {
	for i := range m.Sources {
		if m.Sources[i].UID == uid {
			return &m.Sources[i]
		}
	}
	return nil
}

// EncodeManifest validates m and encodes it as indented JSON, as stored in MANIFEST.json.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeManifest decodes and validates a manifest strictly: every field must be present, with its
// exact name and type, once; null only for lists and the offsets; no unknown field; nothing after
// the JSON object; the version must be
// ManifestVersion; and the values must pass Validate. Errors name the offending field, as in
// `operators[1].parts[0].subtask: 3 is not below the parallelism 2`.
func DecodeManifest(b []byte) (*Manifest, error) {
	// The version first, so that a manifest of a later format is reported as such rather than
	// by its first unknown field.
	var v struct {
		Version *int `json:"version"`
	}
	if json.Unmarshal(b, &v) == nil && v.Version != nil && (*v.Version < MinManifestVersion || *v.Version > ManifestVersion) {
		return nil, fmt.Errorf("decoding the manifest: version: %d is not supported (this build reads versions %d to %d)", *v.Version, MinManifestVersion, ManifestVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := checkShape(dec, manifestShape, ""); err != nil {
		return nil, fmt.Errorf("decoding the manifest: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decoding the manifest: data after the JSON object")
	}
	m := new(Manifest)
	dec = json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("decoding the manifest: %s: cannot use JSON %s as %s", te.Field, te.Value, te.Type)
		}
		return nil, fmt.Errorf("decoding the manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("decoding the manifest: %w", err)
	}
	return m, nil
}

// Validate checks the manifest's values; errors name the field. Writer.Commit and DecodeManifest
// call it.
func (m *Manifest) Validate() error {
	if m.Version < MinManifestVersion || m.Version > ManifestVersion {
		return fmt.Errorf("version: %d is not supported (want %d to %d)", m.Version, MinManifestVersion, ManifestVersion)
	}
	if m.ID < 0 {
		return fmt.Errorf("id: %d is negative", m.ID)
	}
	if m.Kind != KindCheckpoint && m.Kind != KindSavepoint {
		return fmt.Errorf("kind: invalid kind %d", uint8(m.Kind))
	}
	if m.MaxParallelism < 0 {
		return fmt.Errorf("max_parallelism: %d is negative", m.MaxParallelism)
	}
	files := make(map[string]bool, len(m.Files))
	for i, f := range m.Files {
		if err := checkFileName(f.Name); err != nil {
			return fmt.Errorf("files[%d].name: %w", i, err)
		}
		if files[f.Name] {
			return fmt.Errorf("files[%d].name: %q is listed twice", i, f.Name)
		}
		files[f.Name] = true
		if f.Size < 0 {
			return fmt.Errorf("files[%d].size: %d is negative", i, f.Size)
		}
	}
	uids := make(map[string]bool, len(m.Operators))
	for i := range m.Operators {
		if err := m.validateOperator(&m.Operators[i], files); err != nil {
			return fmt.Errorf("operators[%d].%w", i, err)
		}
		if uids[m.Operators[i].UID] {
			return fmt.Errorf("operators[%d].uid: %q is listed twice", i, m.Operators[i].UID)
		}
		uids[m.Operators[i].UID] = true
	}
	clear(uids)
	for i, s := range m.Sources {
		if s.UID == "" {
			return fmt.Errorf("sources[%d].uid: empty", i)
		}
		if uids[s.UID] {
			return fmt.Errorf("sources[%d].uid: %q is listed twice", i, s.UID)
		}
		uids[s.UID] = true
		splits := make(map[int]bool, len(s.Splits))
		for j, sp := range s.Splits {
			if sp.Split < 0 {
				return fmt.Errorf("sources[%d].splits[%d].split: %d is negative", i, j, sp.Split)
			}
			if splits[sp.Split] {
				return fmt.Errorf("sources[%d].splits[%d].split: %d is listed twice", i, j, sp.Split)
			}
			splits[sp.Split] = true
		}
	}
	for k, v := range m.Extra {
		if k == "" {
			return errors.New("extra: empty key")
		}
		if !json.Valid(v) {
			return fmt.Errorf("extra.%s: not a JSON value", k)
		}
	}
	return nil
}

// validateOperator checks one operator; its error starts with the field name, to follow
// "operators[i].".
func (m *Manifest) validateOperator(op *OperatorState, files map[string]bool) error {
	if op.UID == "" {
		return errors.New("uid: empty")
	}
	if op.Parallelism < 1 {
		return fmt.Errorf("parallelism: %d is not positive", op.Parallelism)
	}
	for j, p := range op.Parts {
		switch {
		case p.Subtask < 0 || p.Subtask >= op.Parallelism:
			return fmt.Errorf("parts[%d].subtask: %d is not in [0, %d)", j, p.Subtask, op.Parallelism)
		case p.KeyGroupStart < 0:
			return fmt.Errorf("parts[%d].key_group_start: %d is negative", j, p.KeyGroupStart)
		case p.KeyGroupEnd < p.KeyGroupStart:
			return fmt.Errorf("parts[%d].key_group_end: %d is below key_group_start %d", j, p.KeyGroupEnd, p.KeyGroupStart)
		case m.MaxParallelism > 0 && p.KeyGroupEnd >= m.MaxParallelism:
			return fmt.Errorf("parts[%d].key_group_end: %d is not below max_parallelism %d", j, p.KeyGroupEnd, m.MaxParallelism)
		case p.File != "" && !files[p.File]:
			return fmt.Errorf("parts[%d].file: %q is not among the checkpoint's files", j, p.File)
		case len(p.Files) > 0 && m.Version < 2:
			return fmt.Errorf("parts[%d].files: not allowed in version %d", j, m.Version)
		}
		for k, name := range p.Files {
			if !files[name] {
				return fmt.Errorf("parts[%d].files[%d]: %q is not among the checkpoint's files", j, k, name)
			}
			if slices.Contains(p.Files[:k], name) {
				return fmt.Errorf("parts[%d].files[%d]: %q is listed twice", j, k, name)
			}
		}
	}
	return nil
}

// checkFileName accepts the name of a data file: one path element, not the manifest's.
func checkFileName(name string) error {
	switch {
	case name == "":
		return errors.New("empty file name")
	case name == "." || name == "..":
		return fmt.Errorf("file name %q is not allowed", name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("file name %q contains a path separator or NUL", name)
	case strings.HasPrefix(name, ManifestName):
		return fmt.Errorf("file name %q is reserved for the manifest", name)
	}
	return nil
}

// shape describes the JSON layout of a type for checkShape: for an object, its fields (all
// required); for an array, its element; free means any JSON value (Extra's values).
type shape struct {
	fields map[string]*shape // non-nil for a JSON object with known fields
	elem   *shape            // non-nil for a JSON array
	free   bool              // any JSON value: an object with free keys (map) or a raw value
	opt    map[string]bool   // fields that may be absent (omitempty)
	null   bool              // null is allowed (slices and maps: nil)
}

// manifestShape is derived from the Go types, so the strict check cannot drift from them.
var manifestShape = shapeOf(reflect.TypeFor[Manifest]())

func shapeOf(t reflect.Type) *shape {
	switch t.Kind() {
	case reflect.Struct:
		s := &shape{fields: map[string]*shape{}, opt: map[string]bool{}}
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			s.fields[name] = shapeOf(f.Type)
			s.opt[name] = strings.Contains(opts, "omitempty")
		}
		return s
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &shape{null: true} // []byte: a base64 string
		}
		return &shape{elem: shapeOf(t.Elem()), null: true}
	case reflect.Map:
		return &shape{free: true, null: true}
	}
	return &shape{}
}

// checkShape reads one JSON value from dec and checks it against s: in objects with known fields,
// every key must be a known field spelt exactly (encoding/json would match any case), appear once,
// and every required field must be present. Types are left to encoding/json. path names the value
// in errors.
func checkShape(dec *json.Decoder, s *shape, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return syntaxErr(path, err)
	}
	d, isDelim := tok.(json.Delim)
	switch {
	case tok == nil && !s.null:
		return fmt.Errorf("%snull is not allowed", at(path))
	case s.fields != nil && isDelim && d == '{':
		return checkObject(dec, s, path)
	case s.fields != nil:
		return fmt.Errorf("%sfound %v, want a JSON object", at(path), tok)
	case s.elem != nil && isDelim && d == '[':
		for i := 0; dec.More(); i++ {
			if err := checkShape(dec, s.elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		return syntaxErr(path, err)
	case isDelim && (d == '{' || d == '['):
		if s.free && d == '{' {
			return checkFree(dec, path)
		}
		return fmt.Errorf("%sunexpected JSON %s", at(path), describe(d))
	}
	return nil // a scalar or null: encoding/json checks its type
}

func checkObject(dec *json.Decoder, s *shape, path string) error {
	seen := make(map[string]bool, len(s.fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxErr(path, err)
		}
		key := tok.(string)
		fpath := key
		if path != "" {
			fpath = path + "." + key
		}
		fs, ok := s.fields[key]
		if !ok {
			return fmt.Errorf("%sunknown field %q", at(path), key)
		}
		if seen[key] {
			return fmt.Errorf("%s: field appears twice", fpath)
		}
		seen[key] = true
		if err := checkShape(dec, fs, fpath); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return syntaxErr(path, err)
	}
	for name := range s.fields {
		if !seen[name] && !s.opt[name] {
			if path != "" {
				name = path + "." + name
			}
			return fmt.Errorf("%s: missing", name)
		}
	}
	return nil
}

// checkFree reads the rest of an object with free keys (a map), rejecting duplicate keys.
func checkFree(dec *json.Decoder, path string) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxErr(path, err)
		}
		key := tok.(string)
		if seen[key] {
			return fmt.Errorf("%s.%s: key appears twice", path, key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxErr(path+"."+key, err)
		}
	}
	_, err := dec.Token()
	return syntaxErr(path, err)
}

func syntaxErr(path string, err error) error {
	if err == nil {
		return nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s%w", at(path), err)
}

// at prefixes an error message with the path of the value it is about.
func at(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func describe(d json.Delim) string {
	if d == '{' {
		return "object"
	}
	return "array"
}
