package protocol

// examples holds one filled-in message per action: the golden files pin their wire form.
func examples() map[string]Message {
	h := func(action string) Header {
		return Header{Action: action, MsgID: "5f0c2c1e-8d8b-4b6e-9a57-0c4b1f1d2a10", At: 1795312211000, Version: "0.1.0", From: "RU-9d7c1a52-3f7e-4c55-a0c3-2a4e0c6f1b77"}
	}
	tron := HostPort{Host: "tron.local", Port: 3000}
	return map[string]Message{
		ActionAwake: &Awake{Header: h(ActionAwake), Type: TypeFrontend, InstanceID: "web1-0",
			HostInfo: &HostPort{Host: "web1", Port: 80}},
		ActionHeartbeat: &Heartbeat{Header: h(ActionHeartbeat), Type: TypeRunner,
			Routes: []RouteEntry{{Host: "example.com", Path: "/api", Queue: "n8rrPBeJC25DePU6", SHA: "ab12"}},
			Stats:  Stats{"n8rrPBeJC25DePU6": {Count: 10, Errors: 1, Inflight: 2, TotalMS: 123}}},
		ActionDied:        &Died{Header: h(ActionDied), Type: TypeRunner},
		ActionAck:         &Ack{Header: h(ActionAck), AckID: "0b5e0c55-5b8e-4a8a-9f35-7a1f0f3c9c01", Status: AckError, Error: "bundle failed to start"},
		ActionTronInfo:    &TronInfo{Header: h(ActionTronInfo), TronHost: tron},
		ActionAllBundles:  &AllBundles{Header: h(ActionAllBundles), TronHost: tron, Bundles: []BundleRef{{SHA: "ab12", Host: "", Path: "/api", URL: "http://tron.local:3000/api/v1/bundle/ab12?exp=1&sig=x"}}},
		ActionEnable:      &Enable{Header: h(ActionEnable), TronHost: tron, SHA: "ab12", Props: Props{"greeting": "hi", "n": 2.5, "nested": map[string]any{"ok": true}}, Host: "", Path: "/api", URL: "http://tron.local:3000/api/v1/bundle/ab12?exp=1&sig=x"},
		ActionDisable:     &Disable{Header: h(ActionDisable), TronHost: tron, SHA: "ab12"},
		ActionResendAwake: &ResendAwake{Header: h(ActionResendAwake)},
		ActionRoute: &Route{Header: h(ActionRoute), Routes: []RouteEntry{
			{Host: "example.com", Path: "/api/v2", Queue: "q2", SHA: "cd34"},
			{Host: "", Path: "/api", Queue: "ch8NQk38yRVeiOo2", SHA: "ab12"}}, TableVersion: 7},
		ActionDie:       &Die{Header: h(ActionDie), InstanceID: "web1-0"},
		ActionSetStatsd: &SetStatsd{Header: h(ActionSetStatsd), Statsd: StatsdTarget{Enabled: true, Host: "127.0.0.1", Port: 8125}},
		ActionService: &Service{Header: Header{Action: ActionService},
			Headers: Headers{"host": {"example.com"}, "x-multi": {"a", "b"}, "content-type": {"text/plain"}},
			Method:  "POST", URIArgs: URIArgs{"x": {"1", "2"}, "y": {"z"}, "flag": nil},
			Host: "example.com", ContentType: "text/plain", RemoteAddr: "127.0.0.1", ServerProtocol: "HTTP/1.1",
			ServerPort: "8080", ServerAddr: "127.0.0.1", RemotePort: "52044", RequestURI: "/api/echo?x=1&x=2&y=z&flag",
			RequestID: "c535cddd4675d79b3b80a8678513103b", Args: "x=1&x=2&y=z&flag", Request: "POST /api/echo?x=1&x=2&y=z&flag HTTP/1.1",
			HTTPUserAgent: "curl/8", Scheme: "http", URI: "/api/echo", ReplyTo: "c535cddd4675d79b3b80a8678513103b",
			ReplyQueue: "FRNT41c01e80-c693-4dc5-8cdd-4dfd9b3d4d2e", BodyBase64Encoded: true, AnswerHeaders: AnswerHeadersPairs, Body: Base64("hello\x00world")},
		ActionAnswer: &Answer{Header: h(ActionAnswer), RequestID: "c535cddd4675d79b3b80a8678513103b",
			Answer: AnswerBody{Status: 200, Headers: [][2]string{{"Content-Type", "text/plain"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}}, Body: Base64("hi")}},
	}
}
