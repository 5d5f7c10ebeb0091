package mtaimage_test

import (
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/internal/mtaimage"
)

// The image tag carries Postfix's upstream version, read from the dpkg
// database of the root file system that debootstrap made.
func ExampleVersionFromStatus() {
	status := "Package: postfix\nStatus: install ok installed\nVersion: 3.7.11-0+deb12u1\n"
	v, err := mtaimage.VersionFromStatus(strings.NewReader(status), "postfix")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(mtaimage.Postfix.Repository() + ":" + v)
	// Output: mxsim/postfix:3.7.11
}
