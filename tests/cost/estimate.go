package cost

import (
	"math"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The documented request-unit rules, used only for a call whose output carries no
// ConsumedCapacity (DynamoDB Local omits it in some cases, and a failed call has no output).
// Such units are estimates: they count the items the call sent or received, not the item it
// replaced, nor any index write.
const (
	// readUnitSize: one read request unit reads up to 4 KB strongly consistent, two items'
	// worth eventually consistent.
	readUnitSize = 4 << 10
	// writeUnitSize: one write request unit writes up to 1 KB.
	writeUnitSize = 1 << 10
)

type estimated struct {
	read, write float64
	tables      map[string]float64
}

// estimate returns the units of a DynamoDB call from the sizes of the items it carried; ok is
// false for an operation it does not know.
func estimate(params, result any) (e estimated, ok bool) {
	e.tables = map[string]float64{}
	put := func(table string, units float64, read bool) {
		e.tables[table] += units
		if read {
			e.read += units
		} else {
			e.write += units
		}
	}
	switch in := params.(type) {
	case *dynamodb.PutItemInput:
		put(deref(in.TableName), writeUnits(ItemSize(in.Item)), false)
	case *dynamodb.UpdateItemInput:
		// The size of the item after the update is unknown here: the key and new values are a
		// lower bound, and a write costs at least one unit.
		put(deref(in.TableName), writeUnits(ItemSize(in.Key)+ItemSize(in.ExpressionAttributeValues)), false)
	case *dynamodb.DeleteItemInput:
		put(deref(in.TableName), 1, false)
	case *dynamodb.BatchWriteItemInput:
		for table, reqs := range in.RequestItems {
			for _, r := range reqs {
				if r.PutRequest != nil {
					put(table, writeUnits(ItemSize(r.PutRequest.Item)), false)
				} else {
					put(table, 1, false)
				}
			}
		}
	case *dynamodb.TransactWriteItemsInput:
		// Transactional writes cost two units per 1 KB.
		for _, it := range in.TransactItems {
			switch {
			case it.Put != nil:
				put(deref(it.Put.TableName), 2*writeUnits(ItemSize(it.Put.Item)), false)
			case it.Update != nil:
				put(deref(it.Update.TableName), 2*writeUnits(ItemSize(it.Update.Key)+ItemSize(it.Update.ExpressionAttributeValues)), false)
			case it.Delete != nil:
				put(deref(it.Delete.TableName), 2, false)
			case it.ConditionCheck != nil:
				put(deref(it.ConditionCheck.TableName), 2, false)
			}
		}
	case *dynamodb.GetItemInput:
		var item map[string]ddbtypes.AttributeValue
		if out, _ := result.(*dynamodb.GetItemOutput); out != nil {
			item = out.Item
		}
		put(deref(in.TableName), readUnits(ItemSize(item), deref(in.ConsistentRead)), true)
	case *dynamodb.QueryInput:
		size := 0
		if out, _ := result.(*dynamodb.QueryOutput); out != nil {
			for _, it := range out.Items {
				size += ItemSize(it)
			}
		}
		put(deref(in.TableName), readUnits(size, deref(in.ConsistentRead)), true)
	case *dynamodb.BatchGetItemInput:
		var got map[string][]map[string]ddbtypes.AttributeValue
		if out, _ := result.(*dynamodb.BatchGetItemOutput); out != nil {
			got = out.Responses
		}
		for table, keys := range in.RequestItems {
			for _, it := range got[table] {
				put(table, readUnits(ItemSize(it), deref(keys.ConsistentRead)), true)
			}
		}
	default:
		return e, false
	}
	return e, true
}

func writeUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/writeUnitSize)) }

func readUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/readUnitSize))
	if !consistent {
		u /= 2
	}
	return u
}

// ItemSize is an item's size by DynamoDB's documented rules: each attribute's name in UTF-8
// bytes plus its value's size.
func ItemSize(item map[string]ddbtypes.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize: strings and binaries their length; a number about one byte per two significant
// digits plus one; booleans and nulls one byte; lists and maps 3 bytes plus one per element
// plus their elements.
func valueSize(v ddbtypes.AttributeValue) int {
	switch a := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return len(a.Value)
	case *ddbtypes.AttributeValueMemberN:
		return numberSize(a.Value)
	case *ddbtypes.AttributeValueMemberB:
		return len(a.Value)
	case *ddbtypes.AttributeValueMemberBOOL, *ddbtypes.AttributeValueMemberNULL:
		return 1
	case *ddbtypes.AttributeValueMemberSS:
		n := 0
		for _, s := range a.Value {
			n += len(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberNS:
		n := 0
		for _, s := range a.Value {
			n += numberSize(s)
		}
		return n
	case *ddbtypes.AttributeValueMemberBS:
		n := 0
		for _, b := range a.Value {
			n += len(b)
		}
		return n
	case *ddbtypes.AttributeValueMemberL:
		n := 3
		for _, e := range a.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *ddbtypes.AttributeValueMemberM:
		n := 3
		for k, e := range a.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}

func numberSize(s string) int {
	digits := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	return (digits+1)/2 + 1
}
