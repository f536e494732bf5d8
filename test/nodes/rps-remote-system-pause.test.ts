/**
 * Pausing a remote system through its node methods (what the monitor's admin API calls):
 * the send and inbound nodes show it, the form's state route says so, received messages
 * wait in the inbound queue and outbound ones in the outbound queue; a redeploy keeps it
 * paused (it is in the store), and a resume lets both go.
 */
import assert from 'node:assert/strict';
import type { RemoteSystemNode } from '../../src/nodes/rps-remote-system';
import {
  callsOf,
  change,
  envelopeIds,
  FakeRemote,
  type FlowNode,
  helper,
  type InboundRecord,
  isStatus,
  nextCall,
  type OutboundRecord,
  outboundRps,
  setup,
  textOf,
  useNodeRed,
  waitForCall,
} from './helper';

/** snd → queued;  in → out */
function flow(): FlowNode[] {
  return [
    { id: 'snd', type: 'rps-send', remoteSystem: 'rs', processEvent: 'pe', wires: [['queued']] },
    { id: 'queued', type: 'helper' },
    { id: 'in', type: 'rps-inbound', remoteSystem: 'rs', processEvent: 'pe', wires: [['out']] },
    { id: 'out', type: 'helper' },
  ];
}

describe('rps-remote-system node: pause and resume', function () {
  useNodeRed();

  it('paused: the send and inbound nodes and the state route show it, both queues fill, a redeploy keeps it; resumed: both go', async () => {
    const remote = new FakeRemote({ status: 200 });
    await remote.listen();
    try {
      const rps = await setup(flow(), { url: remote.url });
      let rs = helper.getNode('rs') as RemoteSystemNode;
      assert.equal(await rs.whenLoaded(5000), true);

      const states = await rs.pause();
      assert.equal(states.paused, true);
      const [saved] = rps.query<{ value: string }>("SELECT value FROM rps_value WHERE key = 'paused:rs'");
      assert.equal((JSON.parse(saved.value) as { paused: boolean }).paused, true, 'committed before pause() resolved');
      assert.ok(callsOf(rps.node('rs'), 'log').some((args) => textOf(args[0]) === 'rps-remote-system.warnings.paused'), 'an info line');
      await waitForCall(rps.node('snd'), 'status', (args) => isStatus(args, 'yellow', 'rps-send.status.paused'));
      await waitForCall(rps.node('in'), 'status', (args) => isStatus(args, 'yellow', 'rps-inbound.status.paused'));
      assert.equal(((await helper.request().get('/rps-remote-system/rs/state')).body as { paused: boolean }).paused, true);

      // Received while paused: accepted (the remote is not failed), kept in the inbound queue.
      await rps.receive(change({ recordId: 'R1', sequence: 1 }));
      assert.deepEqual(rps.query<InboundRecord>('SELECT status FROM rps_inbound').map((r) => r.status), ['ready']);

      // Redeployed (a full deploy starts every node again): still paused, read from the store.
      await rps.redeploy(() => undefined, 'full');
      rs = helper.getNode('rs') as RemoteSystemNode;
      const emitted = rps.collect('out');
      assert.equal(await rs.whenLoaded(5000), true);
      assert.equal(rs.states().paused, true);
      await waitForCall(rps.node('snd'), 'status', (args) => isStatus(args, 'yellow', 'rps-send.status.paused'));
      rps.node('snd').receive({ payload: { number: 'INC1' }, rps: outboundRps('incident', 'INC1') });
      await rps.collect('queued').wait(1);
      assert.equal(rps.query<OutboundRecord>("SELECT * FROM rps_outbound WHERE status = 'ready'").length, 1, 'queued while paused');
      assert.equal(emitted.msgs.length, 0, 'nothing emitted into the inbound flow');
      assert.deepEqual(rps.query<InboundRecord>('SELECT status FROM rps_inbound').map((r) => r.status), ['ready']);
      assert.deepEqual(remote.requests.flatMap(envelopeIds), [], 'nothing sent');

      // Resumed: the waiting message goes out, the received one into the flow.
      const active = nextCall(rps.node('snd'), 'status', (args) => isStatus(args, 'green', 'rps-send.status.queued'));
      assert.equal((await rs.resume()).paused, false);
      assert.equal(rps.query("SELECT value FROM rps_value WHERE key = 'paused:rs'").length, 0);
      await emitted.wait(1);
      await active;
      await remote.waitFor((r) => envelopeIds(r).length === 1, 'the batch that waited');
      assert.ok(callsOf(rps.node('rs'), 'log').some((args) => textOf(args[0]) === 'rps-remote-system.warnings.resumed'));
    } finally {
      await remote.close();
    }
  });
});
