// Command chaosctl-probe-file is the reference third-party probe plugin:
// build it as chaosctl-probe-file into the plugin directory, add its
// sha256 to the checksums file, and scenarios can use kind = "file.exists".
package main

import "github.com/chaosctl/chaosctl/plugins"

func main() { plugins.ServeProbe(&File{}) }
