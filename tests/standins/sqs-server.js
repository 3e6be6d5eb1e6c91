'use strict';
// SQS stand-in: local-aws-sqs (pinned to 2.0.2 in package.json) with three fidelity
// gaps closed, patched into its bundled source when it is loaded:
//
// 1. ChangeMessageVisibility(Batch) counted as a receive: it raised
//    ApproximateReceiveCount (and so sent messages to the dead-letter queue one
//    receive early). SQS does not count it.
// 2. A long poll (WaitTimeSeconds > 0) waited the whole WaitTimeSeconds unless
//    MaxNumberOfMessages messages were there, and listed the same message again each
//    time its visibility timeout ran out during the wait. SQS answers as soon as it
//    has messages.
// 3. ReceiveMessage ignored MessageSystemAttributeNames, the AWS SDKs' current name
//    for AttributeNames, so ApproximateReceiveCount & co. never came back.
// 4. ChangeMessageVisibility(Batch) accepted any timeout up to 43200 s from the call. SQS
//    counts a message's 12 hours from its receive: a change made E seconds after the receive
//    with a timeout V is refused when E + V > 43200 (InvalidParameterValue, "Total
//    VisibilityTimeout for the message is beyond the limit [43200 seconds]"), and the message
//    keeps the visibility it had. Each receive starts a new 12 hours.
// 5. A FIFO queue handed out the later messages of a message group while an earlier one was
//    in flight. SQS returns no message of a group while one of it is in flight (received and
//    neither deleted nor visible again), which is what keeps a group in order.
//
// Each patch must match the bundled source exactly once; if local-aws-sqs is upgraded
// and a patch no longer applies, this refuses to start (check the gap, then update or
// drop the patch).
//
// usage: node sqs-server.js PORT [HOST]
const fs = require('fs');
const path = require('path');
const Module = require('module');

const patches = [
  {
    why: 'ChangeMessageVisibility must not count as a receive',
    from: 'return l(this,D,Wt).call(this,r,n,!0),!0}',
    to: 'let rc=r.record.attributes.ApproximateReceiveCount;return l(this,D,Wt).call(this,r,n,!0),r.record.attributes.ApproximateReceiveCount=rc,!0}',
  },
  {
    why: 'a long poll answers as soon as it has messages, and lists each once',
    from: 'if(r.length==e){clearInterval(c),clearTimeout(n),o();break}}},10)',
    to: 'if(r.length==e){clearInterval(c),clearTimeout(n),o();break}}r.length&&(clearInterval(c),clearTimeout(n),o())},10)',
  },
  {
    why: 'ReceiveMessage honours MessageSystemAttributeNames',
    from: 'this.body=this.reqBody,"MaxNumberOfMessages"in this.body',
    to: 'this.body=this.reqBody,Array.isArray(this.body.MessageSystemAttributeNames)&&(this.body.AttributeNames=[...new Set([...(Array.isArray(this.body.AttributeNames)?this.body.AttributeNames:[]),...this.body.MessageSystemAttributeNames])]),"MaxNumberOfMessages"in this.body',
  },
  {
    why: 'a receive records when it happened (for the 12-hour visibility limit)',
    from: 't.visible=!1,i||(t.record.ReceiptHandle=l(this,D,Gs).call(this,t.record.MessageId))',
    to: 't.visible=!1,i||(t.record.ReceiptHandle=l(this,D,Gs).call(this,t.record.MessageId),t.receivedAt=Date.now())',
  },
  {
    why: 'ChangeMessageVisibility refuses a timeout past 12 hours from the receive',
    from: 'if(!r)return!1;let n=Number(e);',
    to: 'if(!r)return!1;let n=Number(e);if(r.receivedAt&&Date.now()-r.receivedAt+n*1e3>432e5)throw new u(`Value ${e} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]`);',
  },
  {
    why: 'a FIFO queue hands out no message of a group while another of it is in flight',
    from: 'c=setInterval(()=>{d++;for(let y of S(this,E))if(!y.delayed){if(y.visible){',
    to: 'c=setInterval(()=>{d++;let L=this.FifoQueue?new Set(S(this,E).filter(q=>!q.visible&&!q.delayed).map(q=>q.record.attributes.MessageGroupId)):null;for(let y of S(this,E))if(!y.delayed){if(y.visible&&!(L&&L.has(y.record.attributes.MessageGroupId))){',
  },
];

function loadPatched() {
  const file = require.resolve('local-aws-sqs');
  let src = fs.readFileSync(file, 'utf8');
  for (const p of patches) {
    const n = src.split(p.from).length - 1;
    if (n !== 1) {
      throw new Error(`sqs-server.js: patch "${p.why}" matches ${n} times in ${file} (expected 1): ` +
        'local-aws-sqs changed; re-check the gap and update the patch');
    }
    src = src.replace(p.from, () => p.to);
  }
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  m._compile(src, file);
  return m.exports;
}

const port = Number(process.argv[2]);
const hostname = process.argv[3] || '127.0.0.1';
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node sqs-server.js PORT [HOST]');
  process.exit(2);
}

loadPatched()
  .createSqsServer({ port, hostname })
  .then((server) => {
    console.log(`sqs stand-in (local-aws-sqs, patched) listening on http://${hostname}:${server.address().port}`);
  })
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
