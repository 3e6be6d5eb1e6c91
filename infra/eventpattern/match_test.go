package eventpattern

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
)

// ec2Event is the sample event from the AWS guide's event pattern page.
const ec2Event = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-12-22T18:43:48Z",
  "region": "us-west-1",
  "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
  "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}
}`

// withDetail returns a full envelope whose detail is the given JSON.
func withDetail(detail string) string {
	return `{"version":"0","id":"3e3c153a-8339-4e30-8c35-687ebef853fe",` +
		`"detail-type":"Order Placed","source":"com.herald.orders","account":"123456789012",` +
		`"time":"2017-10-02T18:43:48Z","region":"us-east-1",` +
		`"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"],` +
		`"detail":` + detail + `}`
}

type matchCase struct {
	name    string
	pattern string
	event   string
	want    bool
	// float64Differs marks rows whose answer legitimately changes when the
	// event is decoded with float64 instead of json.Number.
	float64Differs bool
}

var matchCases = []matchCase{
	// --- exact values, AND/OR, nesting -----------------------------------
	{name: "doc example: source, detail-type and nested state", pattern: `{"source":["aws.ec2"],"detail-type":["EC2 Instance State-change Notification"],"detail":{"state":["terminated"]}}`, event: ec2Event, want: true},
	{name: "exact string mismatch", pattern: `{"source":["aws.s3"]}`, event: ec2Event, want: false},
	{name: "any value in the list matches (OR)", pattern: `{"source":["aws.s3","aws.ec2","aws.fargate"]}`, event: ec2Event, want: true},
	{name: "all fields must match (AND)", pattern: `{"source":["aws.ec2"],"region":["eu-west-1"]}`, event: ec2Event, want: false},
	{name: "fields absent from the pattern are ignored", pattern: `{"detail":{"state":["terminated"]}}`, event: ec2Event, want: true},
	{name: "strings are case-sensitive", pattern: `{"source":["AWS.EC2"]}`, event: ec2Event, want: false},
	{name: "no string normalisation: trailing space differs", pattern: `{"source":["aws.ec2 "]}`, event: ec2Event, want: false},
	{name: "JSON escapes compare decoded", pattern: `{"detail":{"s":["caf\u00e9"]}}`, event: withDetail(`{"s":"café"}`), want: true},
	{name: "missing field does not match", pattern: `{"detail":{"missing":["x"]}}`, event: ec2Event, want: false},
	{name: "missing intermediate object does not match", pattern: `{"detail":{"a":{"b":["x"]}}}`, event: ec2Event, want: false},
	{name: "nested object pattern against a leaf value", pattern: `{"detail":{"state":{"name":["terminated"]}}}`, event: ec2Event, want: false},
	{name: "leaf list against an object value", pattern: `{"detail":["x"]}`, event: ec2Event, want: false},
	{name: "deeply nested descent", pattern: `{"detail":{"a":{"b":{"c":["deep"]}}}}`, event: withDetail(`{"a":{"b":{"c":"deep"}}}`), want: true},
	{name: "member names containing dots are not paths", pattern: `{"detail":{"a.b":["x"]}}`, event: withDetail(`{"a":{"b":"x"}}`), want: false},
	{name: "member names containing dots match literally", pattern: `{"detail":{"a.b":["x"]}}`, event: withDetail(`{"a.b":"x"}`), want: true},
	{name: "duplicate pattern keys: last one wins (match)", pattern: `{"detail":{"location":[{"prefix":"us-"}],"location":[{"anything-but":"us-east"}]}}`, event: withDetail(`{"location":"eu-west"}`), want: true},
	{name: "duplicate pattern keys: last one wins (no match)", pattern: `{"detail":{"location":[{"prefix":"us-"}],"location":[{"anything-but":"us-east"}]}}`, event: withDetail(`{"location":"us-east"}`), want: false},

	// --- top-level envelope fields ----------------------------------------
	{name: "top-level id", pattern: `{"id":["6a7e8feb-b491-4cf7-a9f1-bf3703467718"]}`, event: ec2Event, want: true},
	{name: "top-level account", pattern: `{"account":["111122223333"]}`, event: ec2Event, want: true},
	{name: "top-level account is a string, not a number", pattern: `{"account":[111122223333]}`, event: ec2Event, want: false},
	{name: "top-level region", pattern: `{"region":["us-west-1"]}`, event: ec2Event, want: true},
	{name: "top-level time", pattern: `{"time":["2017-12-22T18:43:48Z"]}`, event: ec2Event, want: true},
	{name: "top-level version", pattern: `{"version":["0"]}`, event: ec2Event, want: true},
	{name: "resources: array intersection", pattern: `{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f","arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f"]}`, event: `{"resources":["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b","arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}`, want: true},
	{name: "resources: empty intersection", pattern: `{"resources":["arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}`, event: ec2Event, want: false},
	{name: "resources: empty event array", pattern: `{"resources":["x"]}`, event: `{"resources":[]}`, want: false},

	// --- numbers, booleans, null, empty string ------------------------------
	{name: "number exact", pattern: `{"detail":{"risk-score":[80]}}`, event: withDetail(`{"risk-score":80}`), want: true},
	{name: "number mismatch", pattern: `{"detail":{"risk-score":[80]}}`, event: withDetail(`{"risk-score":81}`), want: false},
	{name: "number equality is numeric: 300 vs 300.0", pattern: `{"detail":{"n":[300]}}`, event: withDetail(`{"n":300.0}`), want: true},
	{name: "number equality is numeric: 300 vs 3.0e2", pattern: `{"detail":{"n":[300]}}`, event: withDetail(`{"n":3.0e2}`), want: true},
	{name: "number equality is numeric: -0 vs 0", pattern: `{"detail":{"n":[0]}}`, event: withDetail(`{"n":-0}`), want: true},
	{name: "number equality: fractions", pattern: `{"detail":{"n":[0.1]}}`, event: withDetail(`{"n":1e-1}`), want: true},
	{name: "large integers compare exactly with json.Number", pattern: `{"detail":{"n":[12345678901234567]}}`, event: withDetail(`{"n":12345678901234568}`), want: false, float64Differs: true},
	{name: "number pattern does not match numeric string", pattern: `{"detail":{"n":[80]}}`, event: withDetail(`{"n":"80"}`), want: false},
	{name: "string pattern does not match number", pattern: `{"detail":{"n":["80"]}}`, event: withDetail(`{"n":80}`), want: false},
	{name: "nested number (doc Macie example)", pattern: `{"detail":{"risk-score":[80],"trigger":{"risk":[8]}}}`, event: withDetail(`{"risk-score":80,"trigger":{"risk":8,"alert-type":"basic"}}`), want: true},
	{name: "boolean true", pattern: `{"detail":{"ok":[true]}}`, event: withDetail(`{"ok":true}`), want: true},
	{name: "boolean false vs true", pattern: `{"detail":{"ok":[false]}}`, event: withDetail(`{"ok":true}`), want: false},
	{name: "boolean does not match string", pattern: `{"detail":{"ok":[true]}}`, event: withDetail(`{"ok":"true"}`), want: false},
	{name: "null matches null", pattern: `{"detail":{"responseElements":[null]}}`, event: withDetail(`{"responseElements":null}`), want: true},
	{name: "null does not match missing field", pattern: `{"detail":{"responseElements":[null]}}`, event: withDetail(`{}`), want: false},
	{name: "null does not match empty string", pattern: `{"detail":{"v":[null]}}`, event: withDetail(`{"v":""}`), want: false},
	{name: "empty string matches empty string", pattern: `{"detail":{"eventVersion":[""]}}`, event: withDetail(`{"eventVersion":""}`), want: true},
	{name: "empty string does not match null", pattern: `{"detail":{"eventVersion":[""]}}`, event: withDetail(`{"eventVersion":null}`), want: false},
	{name: "mixed list of types", pattern: `{"detail":{"v":["a",5,null,true,{"prefix":"x"}]}}`, event: withDetail(`{"v":"xyz"}`), want: true},

	// --- arrays in events -----------------------------------------------------
	{name: "event array: any element matches", pattern: `{"detail":{"tags":["Insider"]}}`, event: withDetail(`{"tags":["Custom_Alert","Insider"]}`), want: true},
	{name: "event array: no element matches", pattern: `{"detail":{"tags":["Outsider"]}}`, event: withDetail(`{"tags":["Custom_Alert","Insider"]}`), want: false},
	{name: "event array of arrays is flattened", pattern: `{"detail":{"m":[4]}}`, event: withDetail(`{"m":[[1,2],[3,[4]]]}`), want: true},
	{name: "objects in event arrays are descended into", pattern: `{"detail":{"items":{"name":["x"]}}}`, event: withDetail(`{"items":[{"name":"a"},{"name":"x"}]}`), want: true},
	{name: "objects in event arrays: no element matches", pattern: `{"detail":{"items":{"name":["x"]}}}`, event: withDetail(`{"items":[{"name":"a"},{"name":"b"}]}`), want: false},
	{name: "array consistency: both fields from one element", pattern: `{"employees":{"firstName":["Anna"],"lastName":["Smith"]}}`, event: `{"employees":[{"firstName":"John","lastName":"Doe"},{"firstName":"Anna","lastName":"Smith"}]}`, want: true},
	{name: "array consistency: fields from different elements do not match", pattern: `{"employees":{"firstName":["Anna"],"lastName":["Jones"]}}`, event: `{"employees":[{"firstName":"Anna","lastName":"Smith"},{"firstName":"Peter","lastName":"Jones"}]}`, want: false},
	{name: "multi-level arrays of objects", pattern: `{"employees":{"firstName":["Peter"]}}`, event: `{"employees":[[{"firstName":"John"},{"firstName":"Anna"}],[{"firstName":"Peter"}]]}`, want: true},
	{name: "arrays at several levels", pattern: `{"detail":{"orders":{"lines":{"sku":["B-2"]}}}}`, event: withDetail(`{"orders":[{"lines":[{"sku":"A-1"}]},{"lines":[{"sku":"B-2"}]}]}`), want: true},
	{name: "array of scalars against nested pattern", pattern: `{"detail":{"items":{"name":["x"]}}}`, event: withDetail(`{"items":["x"]}`), want: false},

	// --- prefix / suffix ----------------------------------------------------
	{name: "prefix matches", pattern: `{"time":[{"prefix":"2017-10-02"}]}`, event: withDetail(`{}`), want: true},
	{name: "prefix does not match", pattern: `{"time":[{"prefix":"2018"}]}`, event: withDetail(`{}`), want: false},
	{name: "prefix is case-sensitive", pattern: `{"region":[{"prefix":"US-"}]}`, event: ec2Event, want: false},
	{name: "prefix only matches strings", pattern: `{"detail":{"n":[{"prefix":"12"}]}}`, event: withDetail(`{"n":123}`), want: false},
	{name: "prefix on an event array", pattern: `{"resources":[{"prefix":"arn:aws:ec2:"}]}`, event: ec2Event, want: true},
	{name: "empty prefix matches any string", pattern: `{"source":[{"prefix":""}]}`, event: ec2Event, want: true},
	{name: "prefix equals-ignore-case", pattern: `{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventB"}}]}}`, event: withDetail(`{"service":"eventbridge"}`), want: true},
	{name: "prefix equals-ignore-case mismatch", pattern: `{"detail":{"service":[{"prefix":{"equals-ignore-case":"EventX"}}]}}`, event: withDetail(`{"service":"eventbridge"}`), want: false},
	{name: "prefix equals-ignore-case non-ASCII", pattern: `{"detail":{"s":[{"prefix":{"equals-ignore-case":"ÉCO"}}]}}`, event: withDetail(`{"s":"école"}`), want: true},
	{name: "suffix matches", pattern: `{"detail":{"FileName":[{"suffix":".png"}]}}`, event: withDetail(`{"FileName":"image.png"}`), want: true},
	{name: "suffix is case-sensitive", pattern: `{"detail":{"FileName":[{"suffix":".png"}]}}`, event: withDetail(`{"FileName":"image.PNG"}`), want: false},
	{name: "suffix equals-ignore-case", pattern: `{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`, event: withDetail(`{"FileName":"image.PNG"}`), want: true},
	{name: "suffix equals-ignore-case mismatch", pattern: `{"detail":{"FileName":[{"suffix":{"equals-ignore-case":".png"}}]}}`, event: withDetail(`{"FileName":"image.jpg"}`), want: false},
	{name: "suffix only matches strings", pattern: `{"detail":{"n":[{"suffix":"3"}]}}`, event: withDetail(`{"n":123}`), want: false},

	// --- equals-ignore-case ---------------------------------------------------
	{name: "equals-ignore-case matches", pattern: `{"detail":{"Name":[{"equals-ignore-case":"alice"}]}}`, event: withDetail(`{"Name":"ALICE"}`), want: true},
	{name: "equals-ignore-case is not a prefix match", pattern: `{"detail":{"Name":[{"equals-ignore-case":"alice"}]}}`, event: withDetail(`{"Name":"Alice2"}`), want: false},
	{name: "equals-ignore-case only matches strings", pattern: `{"detail":{"ok":[{"equals-ignore-case":"true"}]}}`, event: withDetail(`{"ok":true}`), want: false},

	// --- anything-but -----------------------------------------------------------
	{name: "anything-but string: other value", pattern: `{"detail":{"state":[{"anything-but":"initializing"}]}}`, event: withDetail(`{"state":"running"}`), want: true},
	{name: "anything-but string: excluded value", pattern: `{"detail":{"state":[{"anything-but":"initializing"}]}}`, event: withDetail(`{"state":"initializing"}`), want: false},
	{name: "anything-but never matches a missing field", pattern: `{"detail":{"state":[{"anything-but":"initializing"}]}}`, event: withDetail(`{}`), want: false},
	{name: "anything-but string vs number value", pattern: `{"detail":{"state":[{"anything-but":"5"}]}}`, event: withDetail(`{"state":5}`), want: true},
	{name: "anything-but string vs null value", pattern: `{"detail":{"state":[{"anything-but":"x"}]}}`, event: withDetail(`{"state":null}`), want: true},
	{name: "anything-but number: other value", pattern: `{"detail":{"x-limit":[{"anything-but":123}]}}`, event: withDetail(`{"x-limit":124}`), want: true},
	{name: "anything-but number: excluded value (numeric equality)", pattern: `{"detail":{"x-limit":[{"anything-but":123}]}}`, event: withDetail(`{"x-limit":123.0}`), want: false},
	{name: "anything-but list of strings: excluded", pattern: `{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}`, event: withDetail(`{"state":"overloaded"}`), want: false},
	{name: "anything-but list of strings: other", pattern: `{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}`, event: withDetail(`{"state":"running"}`), want: true},
	{name: "anything-but list of numbers: excluded", pattern: `{"detail":{"x-limit":[{"anything-but":[100,200,300]}]}}`, event: withDetail(`{"x-limit":200}`), want: false},
	{name: "anything-but list of numbers: other", pattern: `{"detail":{"x-limit":[{"anything-but":[100,200,300]}]}}`, event: withDetail(`{"x-limit":250}`), want: true},
	{name: "anything-but on event array: some element not excluded", pattern: `{"detail":{"states":[{"anything-but":["stopped"]}]}}`, event: withDetail(`{"states":["stopped","running"]}`), want: true},
	{name: "anything-but on event array: all elements excluded", pattern: `{"detail":{"states":[{"anything-but":["stopped"]}]}}`, event: withDetail(`{"states":["stopped","stopped"]}`), want: false},
	{name: "anything-but prefix: excluded", pattern: `{"source":[{"anything-but":{"prefix":"aws."}}]}`, event: ec2Event, want: false},
	{name: "anything-but prefix: other", pattern: `{"source":[{"anything-but":{"prefix":"aws."}}]}`, event: withDetail(`{}`), want: true},
	{name: "anything-but prefix list: neither prefix", pattern: `{"detail":{"s":[{"anything-but":{"prefix":["init","test"]}}]}}`, event: withDetail(`{"s":"post-init"}`), want: true},
	{name: "anything-but prefix list: first prefix", pattern: `{"detail":{"s":[{"anything-but":{"prefix":["init","test"]}}]}}`, event: withDetail(`{"s":"init-x"}`), want: false},
	{name: "anything-but prefix list: second prefix", pattern: `{"detail":{"s":[{"anything-but":{"prefix":["init","test"]}}]}}`, event: withDetail(`{"s":"test1"}`), want: false},
	{name: "anything-but suffix list: neither suffix", pattern: `{"detail":{"s":[{"anything-but":{"suffix":[".png",".jpg"]}}]}}`, event: withDetail(`{"s":"a.gif"}`), want: true},
	{name: "anything-but suffix list: a suffix", pattern: `{"detail":{"s":[{"anything-but":{"suffix":[".png",".jpg"]}}]}}`, event: withDetail(`{"s":"a.jpg"}`), want: false},
	{name: "anything-but suffix: excluded", pattern: `{"detail":{"FileName":[{"anything-but":{"suffix":".png"}}]}}`, event: withDetail(`{"FileName":"a.png"}`), want: false},
	{name: "anything-but suffix: other", pattern: `{"detail":{"FileName":[{"anything-but":{"suffix":".png"}}]}}`, event: withDetail(`{"FileName":"a.jpg"}`), want: true},
	{name: "anything-but equals-ignore-case: excluded", pattern: `{"detail":{"state":[{"anything-but":{"equals-ignore-case":"initializing"}}]}}`, event: withDetail(`{"state":"INITIALIZING"}`), want: false},
	{name: "anything-but equals-ignore-case: other", pattern: `{"detail":{"state":[{"anything-but":{"equals-ignore-case":"initializing"}}]}}`, event: withDetail(`{"state":"running"}`), want: true},
	{name: "anything-but equals-ignore-case list", pattern: `{"detail":{"state":[{"anything-but":{"equals-ignore-case":["initializing","stopped"]}}]}}`, event: withDetail(`{"state":"Stopped"}`), want: false},
	{name: "anything-but wildcard: excluded", pattern: `{"detail":{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}}`, event: withDetail(`{"FilePath":"/usr/lib/x.so"}`), want: false},
	{name: "anything-but wildcard: other", pattern: `{"detail":{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}}`, event: withDetail(`{"FilePath":"/usr/bin/x"}`), want: true},
	{name: "anything-but wildcard list", pattern: `{"detail":{"FilePath":[{"anything-but":{"wildcard":["*/lib/*","*/bin/*"]}}]}}`, event: withDetail(`{"FilePath":"/usr/bin/x"}`), want: false},

	// --- numeric --------------------------------------------------------------
	{name: "numeric range: upper bound inclusive", pattern: `{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}`, event: withDetail(`{"c-count":5}`), want: true},
	{name: "numeric range: lower bound exclusive", pattern: `{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}`, event: withDetail(`{"c-count":0}`), want: false},
	{name: "numeric range: above", pattern: `{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}`, event: withDetail(`{"c-count":5.000001}`), want: false},
	{name: "numeric range: fractional inside", pattern: `{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}]}}`, event: withDetail(`{"c-count":0.5}`), want: true},
	{name: "numeric range: bounds in either order", pattern: `{"detail":{"c-count":[{"numeric":["<=",5,">",0]}]}}`, event: withDetail(`{"c-count":3}`), want: true},
	{name: "numeric <", pattern: `{"detail":{"d-count":[{"numeric":["<",10]}]}}`, event: withDetail(`{"d-count":9.99}`), want: true},
	{name: "numeric < boundary", pattern: `{"detail":{"d-count":[{"numeric":["<",10]}]}}`, event: withDetail(`{"d-count":10}`), want: false},
	{name: "numeric <=", pattern: `{"detail":{"d-count":[{"numeric":["<=",10]}]}}`, event: withDetail(`{"d-count":10}`), want: true},
	{name: "numeric >", pattern: `{"detail":{"n":[{"numeric":[">",-1e3]}]}}`, event: withDetail(`{"n":-999}`), want: true},
	{name: "numeric >=", pattern: `{"detail":{"n":[{"numeric":[">=",1.5]}]}}`, event: withDetail(`{"n":1.5}`), want: true},
	{name: "numeric >= below", pattern: `{"detail":{"n":[{"numeric":[">=",1.5]}]}}`, event: withDetail(`{"n":1.4999}`), want: false},
	{name: "numeric = with exponent (doc example)", pattern: `{"detail":{"x-limit":[{"numeric":["=",3.018e2]}]}}`, event: withDetail(`{"x-limit":301.8}`), want: true},
	{name: "numeric = mismatch", pattern: `{"detail":{"x-limit":[{"numeric":["=",3.018e2]}]}}`, event: withDetail(`{"x-limit":301.81}`), want: false},
	{name: "numeric does not match numeric strings", pattern: `{"detail":{"n":[{"numeric":[">",0]}]}}`, event: withDetail(`{"n":"5"}`), want: false},
	{name: "numeric on event array", pattern: `{"detail":{"n":[{"numeric":[">",0]}]}}`, event: withDetail(`{"n":[-3,-2,7]}`), want: true},
	{name: "numeric missing field", pattern: `{"detail":{"n":[{"numeric":[">",0]}]}}`, event: withDetail(`{}`), want: false},
	{name: "doc complex example", pattern: `{"time":[{"prefix":"2017-10-02"}],"detail":{"state":[{"anything-but":"initializing"}],"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"anything-but":[100,200,300]}]}}`, event: withDetail(`{"state":"running","c-count":5,"d-count":3,"x-limit":301.8}`), want: true},
	{name: "doc complex example, one field fails", pattern: `{"time":[{"prefix":"2017-10-02"}],"detail":{"state":[{"anything-but":"initializing"}],"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"anything-but":[100,200,300]}]}}`, event: withDetail(`{"state":"running","c-count":5,"d-count":3,"x-limit":300}`), want: false},

	// --- exists -----------------------------------------------------------------
	{name: "exists true: present", pattern: `{"detail":{"state":[{"exists":true}]}}`, event: ec2Event, want: true},
	{name: "exists true: absent", pattern: `{"detail":{"c-count":[{"exists":true}]}}`, event: ec2Event, want: false},
	{name: "exists true: null is a value", pattern: `{"detail":{"v":[{"exists":true}]}}`, event: withDetail(`{"v":null}`), want: true},
	{name: "exists true: object is not a leaf", pattern: `{"detail":{"c-count":[{"exists":true}]}}`, event: withDetail(`{"c-count":{"c1":100}}`), want: false},
	{name: "exists true: empty array has no value", pattern: `{"detail":{"a":[{"exists":true}]}}`, event: withDetail(`{"a":[]}`), want: false},
	{name: "exists true: non-empty array", pattern: `{"detail":{"a":[{"exists":true}]}}`, event: withDetail(`{"a":[1]}`), want: true},
	{name: "exists false: absent", pattern: `{"detail":{"c-count":[{"exists":false}]}}`, event: ec2Event, want: true},
	{name: "exists false: present", pattern: `{"detail":{"state":[{"exists":false}]}}`, event: ec2Event, want: false},
	{name: "exists false: present as null", pattern: `{"detail":{"v":[{"exists":false}]}}`, event: withDetail(`{"v":null}`), want: false},
	{name: "exists false: object value is not a leaf (doc example)", pattern: `{"detail":{"c-count":[{"exists":false}]}}`, event: withDetail(`{"state":["initializing","running"],"c-count":{"c1":100}}`), want: true},
	{name: "exists false: missing parent object", pattern: `{"detail":{"a":{"b":[{"exists":false}]}}}`, event: withDetail(`{}`), want: true},
	{name: "exists false: empty array", pattern: `{"detail":{"a":[{"exists":false}]}}`, event: withDetail(`{"a":[]}`), want: true},
	{name: "exists false: no array element has the field", pattern: `{"detail":{"items":{"discount":[{"exists":false}]}}}`, event: withDetail(`{"items":[{"sku":"a"},{"sku":"b"}]}`), want: true},
	{name: "exists false: some array element has the field", pattern: `{"detail":{"items":{"discount":[{"exists":false}]}}}`, event: withDetail(`{"items":[{"sku":"a"},{"sku":"b","discount":5}]}`), want: false},
	{name: "exists false: empty array of objects", pattern: `{"detail":{"items":{"discount":[{"exists":false}]}}}`, event: withDetail(`{"items":[]}`), want: true},
	{name: "exists false combined with a sibling in an array element", pattern: `{"detail":{"items":{"sku":["b"],"discount":[{"exists":false}]}}}`, event: withDetail(`{"items":[{"sku":"a"},{"sku":"b"}]}`), want: true},
	{name: "exists false or a value: absent", pattern: `{"detail":{"v":["x",{"exists":false}]}}`, event: withDetail(`{}`), want: true},
	{name: "exists false or a value: value", pattern: `{"detail":{"v":["x",{"exists":false}]}}`, event: withDetail(`{"v":"x"}`), want: true},
	{name: "exists false or a value: other value", pattern: `{"detail":{"v":["x",{"exists":false}]}}`, event: withDetail(`{"v":"y"}`), want: false},

	// --- wildcard -----------------------------------------------------------
	{name: "wildcard in the middle", pattern: `{"source":[{"wildcard":"Simple*Service"}]}`, event: `{"source":"SimpleQueueService"}`, want: true},
	{name: "wildcard matches empty run", pattern: `{"source":[{"wildcard":"Simple*Service"}]}`, event: `{"source":"SimpleService"}`, want: true},
	{name: "wildcard mismatch", pattern: `{"source":[{"wildcard":"Simple*Service"}]}`, event: `{"source":"SimpleQueue"}`, want: false},
	{name: "wildcard is case-sensitive", pattern: `{"source":[{"wildcard":"simple*"}]}`, event: `{"source":"SimpleQueue"}`, want: false},
	{name: "wildcard several stars", pattern: `{"detail":{"FilePath":[{"wildcard":"*/lib/*.so"}]}}`, event: withDetail(`{"FilePath":"/usr/lib/libc.so"}`), want: true},
	{name: "wildcard segments must not overlap", pattern: `{"detail":{"s":[{"wildcard":"ab*ba"}]}}`, event: withDetail(`{"s":"aba"}`), want: false},
	{name: "wildcard star alone matches any string", pattern: `{"detail":{"s":[{"wildcard":"*"}]}}`, event: withDetail(`{"s":""}`), want: true},
	{name: "wildcard star alone does not match numbers", pattern: `{"detail":{"s":[{"wildcard":"*"}]}}`, event: withDetail(`{"s":1}`), want: false},
	{name: "wildcard without star is exact", pattern: `{"detail":{"s":[{"wildcard":"abc"}]}}`, event: withDetail(`{"s":"abcd"}`), want: false},
	{name: "wildcard escaped star is literal", pattern: `{"detail":{"s":[{"wildcard":"a\\*b"}]}}`, event: withDetail(`{"s":"a*b"}`), want: true},
	{name: "wildcard escaped star is not a wildcard", pattern: `{"detail":{"s":[{"wildcard":"a\\*b"}]}}`, event: withDetail(`{"s":"axb"}`), want: false},
	{name: "wildcard escaped backslash", pattern: `{"detail":{"s":[{"wildcard":"C:\\\\*"}]}}`, event: withDetail(`{"s":"C:\\Windows"}`), want: true},
	{name: "wildcard escaped star next to a wildcard", pattern: `{"detail":{"s":[{"wildcard":"*\\**"}]}}`, event: withDetail(`{"s":"2*3"}`), want: true},
	{name: "wildcard multibyte", pattern: `{"detail":{"s":[{"wildcard":"日*語"}]}}`, event: withDetail(`{"s":"日本語"}`), want: true},

	// --- cidr ---------------------------------------------------------------
	{name: "cidr IPv4 inside", pattern: `{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}`, event: withDetail(`{"sourceIPAddress":"10.0.0.255"}`), want: true},
	{name: "cidr IPv4 outside", pattern: `{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}`, event: withDetail(`{"sourceIPAddress":"10.0.1.0"}`), want: false},
	{name: "cidr IPv6 inside", pattern: `{"detail":{"ip":[{"cidr":"2001:db8::/32"}]}}`, event: withDetail(`{"ip":"2001:db8:1::5"}`), want: true},
	{name: "cidr IPv4-mapped IPv6 address", pattern: `{"detail":{"ip":[{"cidr":"10.0.0.0/8"}]}}`, event: withDetail(`{"ip":"::ffff:10.1.2.3"}`), want: true},
	{name: "cidr non-address string", pattern: `{"detail":{"ip":[{"cidr":"10.0.0.0/8"}]}}`, event: withDetail(`{"ip":"ten"}`), want: false},

	// --- $or -----------------------------------------------------------------
	{name: "$or: first branch", pattern: `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`, event: `{"source":"aws.cloudwatch","metricName":"ReadLatency"}`, want: true},
	{name: "$or: second branch", pattern: `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`, event: `{"source":"aws.cloudwatch","namespace":"AWS/ES"}`, want: true},
	{name: "$or: no branch", pattern: `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization","ReadLatency"]},{"namespace":["AWS/EC2","AWS/ES"]}]}`, event: `{"source":"aws.cloudwatch","namespace":"AWS/S3"}`, want: false},
	{name: "$or: ANDed with siblings", pattern: `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPUUtilization"]},{"namespace":["AWS/EC2"]}]}`, event: `{"source":"aws.ec2","namespace":"AWS/EC2"}`, want: false},
	{name: "$or: branch with AND inside", pattern: `{"$or":[{"a":["1"]},{"b":["2"],"c":["3"]}]}`, event: `{"b":"2","c":"4"}`, want: false},
	{name: "$or: branch with AND inside, all present", pattern: `{"$or":[{"a":["1"]},{"b":["2"],"c":["3"]}]}`, event: `{"b":"2","c":"3"}`, want: true},
	{name: "$or: nested inside detail", pattern: `{"detail":{"$or":[{"state":["stopped"]},{"c-count":[{"numeric":[">",10]}]}]}}`, event: withDetail(`{"state":"running","c-count":11}`), want: true},
	{name: "$or: parallel at two levels", pattern: `{"$or":[{"source":["x"]},{"region":["us-east-1"]}],"detail":{"$or":[{"a":["1"]},{"b":["2"]}]}}`, event: withDetail(`{"b":"2"}`), want: true},
	{name: "$or: nested $or", pattern: `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPU"]},{"metricType":["MetricType"],"$or":[{"metricId":[1234]},{"spaceId":[1000]}]}]}`, event: `{"source":"aws.cloudwatch","metricType":"MetricType","spaceId":1000}`, want: true},
	{name: "$or: nested $or, inner fails", pattern: `{"source":["aws.cloudwatch"],"$or":[{"metricName":["CPU"]},{"metricType":["MetricType"],"$or":[{"metricId":[1234]},{"spaceId":[1000]}]}]}`, event: `{"source":"aws.cloudwatch","metricType":"MetricType","spaceId":1001}`, want: false},
	{name: "$or: branch with exists false", pattern: `{"detail":{"$or":[{"v":["x"]},{"v":[{"exists":false}]}]}}`, event: withDetail(`{}`), want: true},
	{name: "$or inside array element keeps consistency", pattern: `{"detail":{"items":{"sku":["a"],"$or":[{"qty":[1]},{"gift":[true]}]}}}`, event: withDetail(`{"items":[{"sku":"a","qty":2},{"sku":"b","gift":true}]}`), want: false},
	{name: "$or key in an event is not special", pattern: `{"detail":{"x":["1"]}}`, event: withDetail(`{"$or":"y","x":"1"}`), want: true},

	// --- non-object events ---------------------------------------------------
	{name: "event that is an array is treated as empty", pattern: `{"source":["aws.ec2"]}`, event: `[{"source":"aws.ec2"}]`, want: false},
	{name: "event that is a string: exists false holds", pattern: `{"source":[{"exists":false}]}`, event: `"aws.ec2"`, want: true},
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range matchCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile([]byte(tc.pattern))
			if err != nil {
				t.Fatalf("Compile(%s): %v", tc.pattern, err)
			}
			got, err := p.Match([]byte(tc.event))
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if got != tc.want {
				t.Errorf("Match = %v, want %v\npattern: %s\nevent:   %s", got, tc.want, tc.pattern, tc.event)
			}

			// The same event decoded with float64 numbers must give the
			// same answer, except where precision is the point of the row.
			var decoded any
			if err := json.Unmarshal([]byte(tc.event), &decoded); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			want64 := tc.want != tc.float64Differs
			if got := p.MatchDecoded(decoded); got != want64 {
				t.Errorf("MatchDecoded(float64 event) = %v, want %v", got, want64)
			}
		})
	}
}

func TestMatchDecodedGoTypes(t *testing.T) {
	t.Parallel()
	p, err := Compile([]byte(`{"detail":{"n":[300],"m":[{"numeric":[">",1]}],"s":["x"],"b":[false]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		event any
		want  bool
	}{
		{"int", map[string]any{"detail": map[string]any{"n": 300, "m": int64(2), "s": "x", "b": false}}, true},
		{"uint8 and float32", map[string]any{"detail": map[string]any{"n": uint16(300), "m": float32(1.5), "s": "x", "b": false}}, true},
		{"json.Number", map[string]any{"detail": map[string]any{"n": json.Number("3e2"), "m": json.Number("1.01"), "s": "x", "b": false}}, true},
		{"invalid json.Number is not a number", map[string]any{"detail": map[string]any{"n": json.Number("abc"), "m": json.Number("2"), "s": "x", "b": false}}, false},
		{"unsupported types are not leaf values", map[string]any{"detail": map[string]any{"n": 300, "m": 2, "s": struct{}{}, "b": false}}, false},
		{"map[string]string is not an object", map[string]any{"detail": map[string]string{"s": "x"}}, false},
		{"nil event", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := p.MatchDecoded(tc.event); got != tc.want {
				t.Errorf("MatchDecoded = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMatchDecodedCyclicValueDoesNotHang(t *testing.T) {
	t.Parallel()
	p, err := Compile([]byte(`{"a":["x"],"b":{"c":[{"exists":false}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	cyc := []any{nil}
	cyc[0] = cyc
	if p.MatchDecoded(map[string]any{"a": cyc, "b": cyc}) {
		t.Error("cyclic value matched")
	}
}

func TestMatchInvalidEvent(t *testing.T) {
	t.Parallel()
	p, err := Compile([]byte(`{"source":["aws.ec2"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{``, `   `, `{`, `{"source":"aws.ec2"} {}`, `{"source":"aws.ec2"} x`, `{"source":aws}`, "\xff"} {
		got, err := p.Match([]byte(ev))
		if err == nil {
			t.Errorf("Match(%q) = %v, nil; want an error", ev, got)
			continue
		}
		if got {
			t.Errorf("Match(%q) returned true with error %v", ev, err)
		}
		if !strings.Contains(err.Error(), "event is not valid JSON") {
			t.Errorf("Match(%q) error %q lacks context", ev, err)
		}
	}
	// Whitespace around a single value is fine.
	if ok, err := p.Match([]byte(" \n{\"source\":\"aws.ec2\"}\n ")); err != nil || !ok {
		t.Errorf("Match with surrounding whitespace = %v, %v; want true, nil", ok, err)
	}
}

func TestNilPattern(t *testing.T) {
	t.Parallel()
	var p *Pattern
	if ok, err := p.Match([]byte(`{}`)); ok || err != nil {
		t.Errorf("nil Pattern Match = %v, %v; want false, nil", ok, err)
	}
	if p.MatchDecoded(map[string]any{}) {
		t.Error("nil Pattern MatchDecoded = true")
	}
	if p.String() != "" {
		t.Error("nil Pattern String not empty")
	}
	if (&Pattern{}).MatchDecoded(map[string]any{}) {
		t.Error("zero Pattern MatchDecoded = true")
	}
}

func TestPatternString(t *testing.T) {
	t.Parallel()
	src := `{ "source": ["aws.ec2"] }`
	p, err := Compile([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != src {
		t.Errorf("String() = %q, want %q", p.String(), src)
	}
}

func TestConcurrentMatch(t *testing.T) {
	t.Parallel()
	p, err := Compile([]byte(`{"source":["aws.ec2"],"detail":{"state":[{"anything-but":"pending"}],"$or":[{"instance-id":[{"prefix":"i-"}]},{"x":[{"exists":true}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				ok, err := p.Match([]byte(ec2Event))
				if err != nil || !ok {
					t.Errorf("Match = %v, %v", ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestCanonicalDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"0", "0", true},
		{"-0.000", "0", true},
		{"300", "3e2", true},
		{"300.0", "3e2", true},
		{"3.0e2", "3e2", true},
		{"30E+1", "3e2", true},
		{"0.1", "1e-1", true},
		{"-12.5e-3", "-125e-4", true},
		{"12345678901234567", "12345678901234567e0", true},
		{"01", "", false},
		{"1.", "", false},
		{".5", "", false},
		{"1e", "", false},
		{"+1", "", false},
		{"1x", "", false},
		{"1e1234567890123456", "", false},
	} {
		got, ok := canonicalDecimal(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("canonicalDecimal(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLargeInputsStayFast guards against quadratic compile or match work on
// deep patterns, deep events and long arrays.
func TestLargeInputsStayFast(t *testing.T) {
	t.Parallel()
	const depth = 5000
	deepPattern := strings.Repeat(`{"a":`, depth) + `[{"exists":false}]` + strings.Repeat(`}`, depth)
	deepEvent := strings.Repeat(`{"a":`, depth-1) + `{"b":1}` + strings.Repeat(`}`, depth-1)

	var items strings.Builder
	for i := range 20000 {
		if i > 0 {
			items.WriteByte(',')
		}
		items.WriteString(`{"sku":"s","qty":1}`)
	}
	wideEvent := withDetail(`{"items":[` + items.String() + `]}`)
	widePattern := `{"detail":{"items":{"sku":["nope"],"discount":[{"exists":false}]}}}`

	for _, tc := range []struct {
		name, pattern, event string
		want                 bool
	}{
		{"deep pattern and event", deepPattern, deepEvent, true},
		{"wide array with exists false", widePattern, wideEvent, false},
		{"deep event array", `{"a":[1]}`, `{"a":` + strings.Repeat(`[`, depth) + `1` + strings.Repeat(`]`, depth) + `}`, true},
	} {
		p, err := Compile([]byte(tc.pattern))
		if err != nil {
			t.Fatalf("%s: Compile: %v", tc.name, err)
		}
		got, err := p.Match([]byte(tc.event))
		if err != nil || got != tc.want {
			t.Errorf("%s: Match = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	_, err := Compile([]byte(strings.Repeat(`{"a":`, depth) + `[{"numeric":["<","x"]}]` + strings.Repeat(`}`, depth)))
	var pe *PatternError
	if !errors.As(err, &pe) || !strings.HasSuffix(pe.Path, "a.a[0].numeric[1]") {
		t.Errorf("deep error path: %v", err)
	}
}
