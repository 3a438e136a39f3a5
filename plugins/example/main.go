// Command chaosctl-plugin-touch is the reference third-party fault plugin:
// build it as chaosctl-plugin-touch into the plugin directory, add its
// sha256 to the checksums file, and scenarios can use plugin = "touch".
package main

import "github.com/chaosctl/chaosctl/plugins"

func main() { plugins.Serve(&Touch{}) }
