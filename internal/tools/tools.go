//go:build tools

// Package tools pins modules that packages of this tree are about to use, so that go mod tidy keeps them.
package tools

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/emersion/go-sasl"
	_ "github.com/emersion/go-smtp"
	_ "github.com/goccy/go-yaml"
	_ "github.com/miekg/dns"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/testcontainers/testcontainers-go"
	_ "go.uber.org/goleak"
)
