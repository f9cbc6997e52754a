package checkpoint

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func sampleManifest() *Manifest {
	return &Manifest{
		Version: ManifestVersion, ID: 7, Kind: KindCheckpoint, Pipeline: "clickstream",
		CreatedUnixMs: 1700000000000, MaxParallelism: 128,
		Operators: []OperatorState{{UID: "counts", Name: "Aggregate", Parallelism: 2, Parts: []Part{
			{Subtask: 0, KeyGroupStart: 0, KeyGroupEnd: 63, File: "counts-0"},
			{Subtask: 1, KeyGroupStart: 64, KeyGroupEnd: 127, File: "counts-1", Files: []string{"counts-1"}},
		}}},
		Sources: []SourceState{{UID: "clicks", Splits: []SplitOffset{{Split: 0, Offset: []byte{1, 2, 3}}}}},
		Files:   []FileInfo{{Name: "counts-0", Size: 10, CRC32C: 0xdeadbeef}, {Name: "counts-1", Size: 0}},
		Extra:   map[string]json.RawMessage{"sink:out": json.RawMessage(`{"txn":"a"}`)},
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := sampleManifest()
	b, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeManifest(b)
	if err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	b2, err := EncodeManifest(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("round trip changed the manifest:\n%s\n%s", b, b2)
	}
	if got.Operator("counts").Parts[1].KeyGroupEnd != 127 || got.Source("clicks").Splits[0].Offset[2] != 3 {
		t.Fatalf("decoded %+v", got)
	}
	if got.Operator("nope") != nil || got.Source("nope") != nil {
		t.Fatal("found a missing uid")
	}
}

// TestManifestStrict checks that decoding rejects each kind of malformed manifest with an error
// naming the field.
func TestManifestStrict(t *testing.T) {
	valid, err := EncodeManifest(sampleManifest())
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) string {
		if !strings.Contains(string(valid), old) {
			t.Fatalf("the sample has no %q", old)
		}
		return strings.Replace(string(valid), old, new, 1)
	}
	cases := []struct{ name, in, want string }{
		{"empty", "", "unexpected EOF"},
		{"not an object", "[]", "decoding the manifest: found [, want a JSON object"},
		{"torn", string(valid[:len(valid)/2]), "unexpected EOF"},
		{"trailing data", string(valid) + "{}", "data after the JSON object"},
		{"future version", edit(`"version": 2`, `"version": 3`), "version: 3 is not supported"},
		{"old version", edit(`"version": 2`, `"version": 0`), "version: 0 is not supported"},
		{"files in version 1", edit(`"version": 2`, `"version": 1`), "parts[1].files: not allowed in version 1"},
		{"unknown spill file", edit(`"files": [
            "counts-1"`, `"files": [
            "nope"`), `parts[1].files[0]: "nope" is not among`},
		{"spill file twice", edit(`"files": [
            "counts-1"
          ]`, `"files": [
            "counts-1", "counts-1"
          ]`), `parts[1].files[1]: "counts-1" is listed twice`},
		{"missing field", edit(`"pipeline": "clickstream",`, ``), "pipeline: missing"},
		{"missing nested field", edit(`"key_group_start": 64,`, ``), "operators[0].parts[1].key_group_start: missing"},
		{"unknown field", edit(`"finished": false`, `"finished": false, "color": 1`), `decoding the manifest: unknown field "color"`},
		{"wrong case", edit(`"pipeline"`, `"Pipeline"`), `unknown field "Pipeline"`},
		{"duplicate field", edit(`"finished": false`, `"finished": false, "finished": true`), "finished: field appears twice"},
		{"duplicate extra key", edit(`"sink:out": {`, `"sink:out": 1, "sink:out": {`), "extra.sink:out: key appears twice"},
		{"wrong type", edit(`"subtask": 1`, `"subtask": "1"`), "operators.parts.subtask: cannot use JSON string"},
		{"null object", edit(`"parts": [`, `"parts": [null,`), "operators[0].parts[0]: null is not allowed"},
		{"null scalar", edit(`"pipeline": "clickstream"`, `"pipeline": null`), "pipeline: null is not allowed"},
		{"scalar for object", edit(`"parts": [`, `"parts": [7,`), "operators[0].parts[0]: found 7, want a JSON object"},
		{"bad kind", edit(`"kind": "checkpoint"`, `"kind": "snapshot"`), `kind: "snapshot" is not "checkpoint" or "savepoint"`},
		{"bad base64", edit(`"offset": "AQID"`, `"offset": "!!"`), "illegal base64"},
		{"negative id", edit(`"id": 7`, `"id": -7`), "id: -7 is negative"},
		{"subtask out of range", edit(`"subtask": 1`, `"subtask": 2`), "operators[0].parts[1].subtask: 2 is not in [0, 2)"},
		{"key groups reversed", edit(`"key_group_end": 127`, `"key_group_end": 60`), "operators[0].parts[1].key_group_end: 60 is below"},
		{"key group beyond max", edit(`"key_group_end": 127`, `"key_group_end": 128`), "not below max_parallelism 128"},
		{"unlisted file", edit(`"file": "counts-1"`, `"file": "counts-9"`), `operators[0].parts[1].file: "counts-9" is not among`},
		{"file with a path", edit(`"name": "counts-1"`, `"name": "../counts-1"`), "files[1].name: file name"},
		{"duplicate file", edit(`"name": "counts-1"`, `"name": "counts-0"`), `files[1].name: "counts-0" is listed twice`},
		{"negative size", edit(`"size": 10`, `"size": -10`), "files[0].size: -10 is negative"},
		{"empty uid", edit(`"uid": "counts"`, `"uid": ""`), "operators[0].uid: empty"},
		{"zero parallelism", edit(`"parallelism": 2`, `"parallelism": 0`), "operators[0].parallelism: 0 is not positive"},
		{"duplicate split", edit(`"splits": [`, `"splits": [{"split": 0, "offset": null},`), "sources[0].splits[1].split: 0 is listed twice"},
		{"crc out of range", edit(`"crc32c": 0`, `"crc32c": 4294967296`), "files.crc32c: cannot use JSON number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := DecodeManifest([]byte(c.in))
			if err == nil {
				t.Fatalf("decoded %+v", m)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestKindText(t *testing.T) {
	for _, k := range []Kind{KindCheckpoint, KindSavepoint} {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var got Kind
		if err := got.UnmarshalText(b); err != nil || got != k {
			t.Fatalf("%s: got %v, %v", k, got, err)
		}
	}
	if _, err := Kind(9).MarshalText(); err == nil {
		t.Fatal("encoded an invalid kind")
	}
	if Kind(9).String() != "Kind(9)" {
		t.Fatal(Kind(9).String())
	}
}

// TestManifestVersion1 checks that manifests written before spill-store files (version 1) are
// still read.
func TestManifestVersion1(t *testing.T) {
	m := sampleManifest()
	m.Version = 1
	m.Operators[0].Parts[1].Files = nil
	b, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"files": [
            `)) {
		t.Fatalf("a part without spill files encodes them:\n%s", b)
	}
	got, err := DecodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Operator("counts").Parts[1].File != "counts-1" {
		t.Fatalf("decoded %+v", got)
	}
}

// FuzzManifest checks that decoding never panics and that what decodes round-trips: encoding it
// and decoding again gives the same manifest, byte for byte once encoded.
func FuzzManifest(f *testing.F) {
	valid, _ := EncodeManifest(sampleManifest())
	f.Add(valid)
	f.Add([]byte(`{"version":1,"id":0,"kind":"savepoint","pipeline":"","created_unix_ms":0,` +
		`"max_parallelism":0,"finished":true,"operators":null,"sources":[],"files":[]}`))
	f.Add([]byte(`{"version":3}`))
	f.Add([]byte(`{"version":2,"id":0,"kind":"checkpoint","pipeline":"","created_unix_ms":0,"max_parallelism":0,` +
		`"finished":false,"operators":[{"uid":"a","name":"","parallelism":1,"parts":[{"subtask":0,` +
		`"key_group_start":0,"key_group_end":0,"file":"","files":["x"]}]}],"sources":[],` +
		`"files":[{"name":"x","size":1,"crc32c":0}]}`))
	f.Add([]byte(`{"version":1,"extra":{"a":[1,{"b":null}]}}`))
	f.Add(valid[:len(valid)/3])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		enc, err := EncodeManifest(m)
		if err != nil {
			t.Fatalf("a decoded manifest does not encode: %v\n%s", err, b)
		}
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("an encoded manifest does not decode: %v\n%s", err, enc)
		}
		enc2, err := EncodeManifest(m2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not a round trip:\n%s\n%s", enc, enc2)
		}
	})
}
