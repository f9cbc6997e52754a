package file

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// structPlan maps CSV columns to the fields of a struct type. It is built once per source; the
// per-record work is one reflect.Value.Set per column.
type structPlan struct {
	typ    reflect.Type
	fields []csvField
}

// csvField is one exported field that a column can fill.
type csvField struct {
	name  string // the csv tag, else the field name
	index []int
	set   func(v reflect.Value, cell string) error // nil: a kind a cell cannot be decoded into
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// newStructPlan lists the fields of t that columns can fill.
func newStructPlan(t reflect.Type) (*structPlan, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("file: CSV: %s is not a struct: pass a CSVDecoder", t)
	}
	p := &structPlan{typ: t}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || throughPointer(t, f.Index) {
			continue
		}
		if f.Anonymous && (f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Pointer) &&
			!reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			continue // its fields are listed on their own
		}
		tag, tagged := f.Tag.Lookup("csv")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		set := setter(f.Type)
		if set == nil && tagged {
			return nil, fmt.Errorf("file: CSV: field %s.%s: cannot decode a cell into %s", t, f.Name, f.Type)
		}
		p.fields = append(p.fields, csvField{name: name, index: f.Index, set: set})
	}
	return p, nil
}

// throughPointer reports whether the field at index is promoted through an embedded pointer, which
// may be nil.
func throughPointer(t reflect.Type, index []int) bool {
	for _, i := range index[:len(index)-1] {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Pointer {
			return true
		}
		t = f.Type
	}
	return false
}

// setter returns the function that decodes a cell into a value of type t, or nil when t is not
// supported. Cells of non-string fields are trimmed of spaces, and an empty one leaves the field
// at its zero value.
func setter(t reflect.Type) func(reflect.Value, string) error {
	if reflect.PointerTo(t).Implements(textUnmarshaler) { // time.Time: RFC 3339
		return func(v reflect.Value, s string) error {
			if s = strings.TrimSpace(s); s == "" {
				return nil
			}
			return v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
		}
	}
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value, s string) error { v.SetString(s); return nil }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return numeric(func(v reflect.Value, s string) error {
			n, err := strconv.ParseInt(s, 10, t.Bits())
			v.SetInt(n)
			return err
		})
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return numeric(func(v reflect.Value, s string) error {
			n, err := strconv.ParseUint(s, 10, t.Bits())
			v.SetUint(n)
			return err
		})
	case reflect.Float32, reflect.Float64:
		return numeric(func(v reflect.Value, s string) error {
			n, err := strconv.ParseFloat(s, t.Bits())
			v.SetFloat(n)
			return err
		})
	case reflect.Bool:
		return numeric(func(v reflect.Value, s string) error {
			b, err := strconv.ParseBool(s)
			v.SetBool(b)
			return err
		})
	}
	return nil
}

// numeric wraps a parser with the trimming and the empty-cell rule.
func numeric(parse func(reflect.Value, string) error) func(reflect.Value, string) error {
	return func(v reflect.Value, s string) error {
		if s = strings.TrimSpace(s); s == "" {
			return nil
		}
		return parse(v, s)
	}
}

// lookup returns the index of the field a column named name fills: the exact name first, else a
// case-insensitive match; -1 when none.
func (p *structPlan) lookup(name string) int {
	name = strings.TrimSpace(name)
	for i, f := range p.fields {
		if f.name == name {
			return i
		}
	}
	for i, f := range p.fields {
		if strings.EqualFold(f.name, name) {
			return i
		}
	}
	return -1
}

// byHeader returns a decoder that fills fields from the columns the header names. Columns that
// name no field are ignored; the header must name at least one field, each at most once.
func byHeader[T any](p *structPlan, header []string) (func(record, header []string) (T, error), error) {
	cols := make([]int, len(header))
	owner := make(map[int]int)
	for c, h := range header {
		cols[c] = p.lookup(h)
		fi := cols[c]
		if fi < 0 {
			continue
		}
		if p.fields[fi].set == nil {
			return nil, fmt.Errorf("column %q: cannot decode a cell into field %s of type %s", h, p.fields[fi].name,
				p.typ.FieldByIndex(p.fields[fi].index).Type)
		}
		if prev, dup := owner[fi]; dup {
			return nil, fmt.Errorf("columns %q and %q both map to field %s", header[prev], h, p.fields[fi].name)
		}
		owner[fi] = c
	}
	if len(owner) == 0 {
		return nil, fmt.Errorf("no column of the header %q names a field of %s", header, p.typ)
	}
	return func(record, header []string) (T, error) {
		var v T
		rv := reflect.ValueOf(&v).Elem()
		for c, fi := range cols {
			if fi < 0 {
				continue
			}
			f := &p.fields[fi]
			if err := f.set(rv.FieldByIndex(f.index), record[c]); err != nil {
				return v, fmt.Errorf("column %q: %w", header[c], err)
			}
		}
		return v, nil
	}, nil
}

// byPosition returns a decoder that fills the supported fields in declaration order, one per
// column; a record must have exactly as many fields.
func byPosition[T any](p *structPlan) func(record, header []string) (T, error) {
	var fields []*csvField
	for i := range p.fields {
		if p.fields[i].set != nil {
			fields = append(fields, &p.fields[i])
		}
	}
	return func(record, _ []string) (T, error) {
		var v T
		if len(record) != len(fields) {
			return v, fmt.Errorf("record has %d fields, %s has %d", len(record), p.typ, len(fields))
		}
		rv := reflect.ValueOf(&v).Elem()
		for c, f := range fields {
			if err := f.set(rv.FieldByIndex(f.index), record[c]); err != nil {
				return v, fmt.Errorf("column %d (field %s): %w", c+1, f.name, err)
			}
		}
		return v, nil
	}
}
