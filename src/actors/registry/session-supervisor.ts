// The xstate parent of every session actor. xstate tells a parent that a child finished or threw
// with an event whose *type* carries the child's id (`xstate.done.actor.<id>`,
// `xstate.error.actor.<id>`), and a state machine memoizes its transition candidates per event
// type for as long as it lives. Had the registry chart been the sessions' parent, it would have
// kept one cache entry per session ever served (~0.7 KB each). This actor is not a chart: its
// logic is a plain function that memoizes nothing. It relays each report to the registry chart as
// one of two event types, `session.finished` and `session.failed`, with the id as data, and it
// keeps the sessions in the registry's actor system (its clock and its inspection, i.e. journals).
import { fromTransition, type EventObject } from 'xstate';
import type { SessionReport } from '../../machines/registry.machine.js';

const DONE = 'xstate.done.actor.';
const ERROR = 'xstate.error.actor.';

export function sessionSupervisor(report: (event: SessionReport) => void) {
  return fromTransition((state: null, event: EventObject) => {
    // xstate puts the child's id in `actorId` on both kinds of report.
    const { actorId, error } = event as EventObject & { actorId?: string; error?: unknown };
    if (actorId === undefined) return state;
    if (event.type.startsWith(DONE)) report({ type: 'session.finished', actorId });
    else if (event.type.startsWith(ERROR)) report({ type: 'session.failed', actorId, error });
    return state;
  }, null);
}
