package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/mxsim/mxsim/harness"
	"github.com/mxsim/mxsim/harness/sandbox"
)

// Start the demo network with its control API, and take the preferred MX
// of example.test down through the API.
func Example() {
	env, err := harness.New(context.Background(), sandbox.Demo())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer env.Close()
	srv, err := sandbox.New(sandbox.Config{Env: env}) // 127.0.0.1, a free port
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	resp, err := client.Post("http://"+srv.Addr()+"/api/hosts/mx1.example.test/down", "", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var host struct {
		Name  string `json:"name"`
		State string `json:"state"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&host); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, host.Name, host.State)
	fmt.Println("the host itself:", env.Host("mx1.example.test").Behavior().State)
	// Output:
	// 200 OK mx1.example.test down
	// the host itself: down
}
