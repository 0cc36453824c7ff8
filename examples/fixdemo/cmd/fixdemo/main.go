// Command fixdemo is the example application fixproof verifies. It picks a
// language for an Accept-Language header and uploads a payload over HTTP,
// the two code paths with known, fixed vulnerabilities (GO-2022-1059 in
// golang.org/x/text, GO-2024-2963 in net/http).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"example.com/fixdemo/internal/fetch"
	"example.com/fixdemo/internal/negotiate"
)

func main() {
	lang := flag.String("lang", "", "Accept-Language header to negotiate")
	upload := flag.String("upload", "", "URL to upload a payload to (Expect: 100-continue)")
	selftest := flag.Bool("selftest", false, "negotiate a few headers, including an over-long one, and exit")
	flag.Parse()

	switch {
	case *selftest:
		for _, h := range []string{"fr-CH, fr;q=0.9", "de", "x" + strings.Repeat("-a", 2000)} {
			tag, err := negotiate.Pick(h)
			fmt.Printf("%d-byte header -> %v (rejected=%v)\n", len(h), tag, err != nil)
		}
	case *lang != "":
		tag, err := negotiate.Pick(*lang)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fixdemo:", err)
		}
		fmt.Println(tag)
	case *upload != "":
		code, body, err := fetch.Upload(fetch.Client(), *upload, []byte("fixdemo payload"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "fixdemo:", err)
			os.Exit(1)
		}
		fmt.Println(code, body)
	default:
		flag.Usage()
		os.Exit(2)
	}
}
