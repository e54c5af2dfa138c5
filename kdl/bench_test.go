package kdl

import (
	"fmt"
	"strings"
	"testing"
)

// benchDocument generates a KDL document of at least size bytes that looks
// like a real configuration: nodes with string and number arguments,
// properties, nested children, comments, type annotations, raw and
// multi-line strings.
func benchDocument(size int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "// pipeline %d: generated for the benchmark\n", i)
		fmt.Fprintf(&b, "pipeline \"build-%d\" version=%d enabled=#true timeout=(duration)\"%dm\" {\n", i, i%7, 10+i%50)
		fmt.Fprintf(&b, "    trigger branch=main paths=\"src/**\" /* inline comment */ schedule=#null\n")
		fmt.Fprintf(&b, "    env CGO_ENABLED=0 GOFLAGS=\"-trimpath\" retries=%d ratio=%g\n", i%5, float64(i%100)/7)
		fmt.Fprintf(&b, "    step checkout {\n        uses \"actions/checkout@v4\" depth=1\n    }\n")
		fmt.Fprintf(&b, "    step test image=golang:1.26 cpu=2.5 memory=0x4000_0000 {\n")
		fmt.Fprintf(&b, "        run \"\"\"\n            go vet ./...\n            go test -race \\\n                ./...\n            \"\"\"\n")
		fmt.Fprintf(&b, "        cache #\"C:\\cache\\go\"# key=\"go-%d\" /-disabled=#false\n", i)
		fmt.Fprintf(&b, "        matrix os=linux arch=amd64 1 2 3 -4 5.0e-3 \"ünïcødé\"\n")
		fmt.Fprintf(&b, "    }\n")
		fmt.Fprintf(&b, "    /- step deploy { run \"./deploy.sh\" }\n")
		fmt.Fprintf(&b, "    notify \"team-%d@example.com\"; artifact path=\"dist/*.tar.gz\" keep=30\n", i)
		fmt.Fprintf(&b, "}\n\n")
	}
	return []byte(b.String())
}

// BenchmarkParse parses a generated document of about 1 MB.
func BenchmarkParse(b *testing.B) {
	src := benchDocument(1 << 20)
	if _, err := Parse(src); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFormat prints the same document.
func BenchmarkFormat(b *testing.B) {
	src := benchDocument(1 << 20)
	doc, err := Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		Format(doc)
	}
}
