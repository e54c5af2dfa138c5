// Package archtest checks what depguard (.golangci.yml, `make lint`)
// cannot: which packages a package links, directly or through anything
// it imports. The direct import direction of each folder is depguard's.
package archtest

// module is the import path of BuildIt's module, the prefix of ours.
const module = "github.com/buildit-ci/buildit"
