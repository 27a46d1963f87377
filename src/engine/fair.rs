//! Fair sharing of the batch among tenants: the Virtual Token Counter
//! (Sheng et al., "Fairness in Serving Large Language Models", OSDI 2024).
//!
//! Every tenant has a counter of the service it received, in weighted
//! tokens: a prompt token the sequence computes costs [`INPUT_COST`] and
//! each token it produces costs [`OUTPUT_COST`], both divided by the
//! tenant's weight. Admission takes the next sequence of the backlogged
//! tenant (one with a sequence waiting) whose counter is smallest, FIFO
//! within the tenant; preemption takes from the tenant whose counter is
//! largest. A tenant whose queue goes from empty to non-empty has its
//! counter lifted to the smallest counter among the other backlogged
//! tenants (to the counter of the tenant that last left the queue when
//! none is backlogged), so time spent idle is never banked as credit.
//!
//! This module is plain data: the per-tenant queues of waiting sequences,
//! the counters, and what each tenant was charged. [`crate::engine::sched`]
//! decides when to charge and whom to admit or preempt.

use std::collections::{HashMap, VecDeque};

use crate::engine::request::{SeqId, Tenant, TenantId};

/// Cost of one prompt token computed at admission (the paper's `wp`).
pub const INPUT_COST: f64 = 1.0;
/// Cost of one produced token (the paper's `wq`): decode steps are the
/// scarcer resource, so an output token counts twice an input token.
pub const OUTPUT_COST: f64 = 2.0;
/// Counters are rebased (the smallest active one subtracted from all) once
/// it passes this, so an f64 counter never loses whole-token precision
/// however long the server runs.
const REBASE_AT: f64 = 1e12;

/// The paper's `U = max(wp * L_input, wq * M)` in weir's terms: `L_input`
/// is the most tokens one admission can charge (`max_model_len`: a prompt,
/// or a preempted sequence's prompt and output, recomputed), `M` the most
/// tokens the running batch can hold (`kv_tokens`: KV blocks x block
/// size). While two tenants are both backlogged, their weighted service
/// over any interval differs by at most `2 * U` (weights >= 1 only shrink
/// the charges).
pub fn service_bound(max_model_len: usize, kv_tokens: usize) -> f64 {
    (INPUT_COST * max_model_len as f64).max(OUTPUT_COST * kv_tokens as f64)
}

/// A tenant's slot in [`FairQueues`]: stable for the scheduler's lifetime.
pub type Slot = usize;

/// What one tenant received so far, for tests and metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct TenantService {
    /// The tenant.
    pub tenant: TenantId,
    /// Its weight (the latest one seen; 0 counts as 1).
    pub weight: u32,
    /// Prompt tokens charged at admission (after prefix-cache hits;
    /// recomputation after a preemption is charged again).
    pub prefill_tokens: u64,
    /// Tokens produced.
    pub decode_tokens: u64,
    /// Service in weighted tokens: `(INPUT_COST * prefill + OUTPUT_COST *
    /// decode) / weight`, summed charge by charge. Equal for all tenants
    /// that stayed backlogged, within the bound of docs/fairness.md.
    pub weighted: f64,
    /// The virtual counter: `weighted` plus lifts, minus rebases.
    pub counter: f64,
    /// Sequences waiting for admission.
    pub waiting: usize,
    /// Sequences in the running batch.
    pub running: usize,
}

impl TenantService {
    /// Unweighted service: `INPUT_COST * prefill + OUTPUT_COST * decode`.
    pub fn raw(&self) -> f64 {
        INPUT_COST * self.prefill_tokens as f64 + OUTPUT_COST * self.decode_tokens as f64
    }
}

#[derive(Debug)]
struct TenantState {
    id: TenantId,
    weight: u32,
    counter: f64,
    queue: VecDeque<SeqId>,
    running: usize,
    prefill: u64,
    decode: u64,
    weighted: f64,
}

/// The waiting sequences, one FIFO queue per tenant, and the counters that
/// decide whose turn it is.
#[derive(Debug, Default)]
pub struct FairQueues {
    tenants: Vec<TenantState>,
    slots: HashMap<TenantId, Slot>,
    waiting: usize,
    /// The tenant whose queue became empty most recently.
    last_left: Option<Slot>,
}

impl FairQueues {
    /// No tenants, nothing waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot of `tenant`, created on first sight (counter 0); the
    /// weight is updated to `tenant`'s (an operator may change it).
    pub fn slot(&mut self, tenant: &Tenant) -> Slot {
        let weight = tenant.weight.max(1);
        if let Some(&s) = self.slots.get(&tenant.id) {
            self.tenants[s].weight = weight;
            return s;
        }
        let s = self.tenants.len();
        self.tenants.push(TenantState {
            id: tenant.id.clone(),
            weight,
            counter: 0.0,
            queue: VecDeque::new(),
            running: 0,
            prefill: 0,
            decode: 0,
            weighted: 0.0,
        });
        self.slots.insert(tenant.id.clone(), s);
        s
    }

    /// Sequences waiting, all tenants together.
    pub fn len(&self) -> usize {
        self.waiting
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// A new sequence joins the back of its tenant's queue. When that queue
    /// was empty the tenant's counter is lifted first (see [`Self::lift`]).
    pub fn arrive(&mut self, slot: Slot, id: SeqId) {
        self.lift(slot);
        self.tenants[slot].queue.push_back(id);
        self.waiting += 1;
    }

    /// A preempted sequence goes back to the front of its tenant's queue.
    /// When that queue was empty the tenant becomes backlogged again, so
    /// its counter is lifted as for an arrival: while it had nothing
    /// waiting it received all it asked for and saved no credit, and
    /// without the lift a tenant whose counter grew meanwhile (the only
    /// one backlogged, paying for its own recomputations) would then wait
    /// out the whole difference.
    pub fn preempted(&mut self, slot: Slot, id: SeqId) {
        self.lift(slot);
        self.requeue_front(slot, id);
    }

    /// A sequence goes back to the front of its tenant's queue after the
    /// admission loop popped it and could not admit it: it keeps its place,
    /// and its tenant's counter is not lifted (it never left).
    pub fn requeue_front(&mut self, slot: Slot, id: SeqId) {
        self.tenants[slot].queue.push_front(id);
        self.waiting += 1;
    }

    /// When the tenant's queue is empty (it is about to become
    /// backlogged), raise its counter to the smallest counter of the other
    /// backlogged tenants, or, when none is, to the counter of the tenant
    /// that last left the queue. A lift never lowers a counter.
    fn lift(&mut self, slot: Slot) {
        if !self.tenants[slot].queue.is_empty() {
            return;
        }
        let floor = self
            .tenants
            .iter()
            .enumerate()
            .filter(|(s, t)| *s != slot && !t.queue.is_empty())
            .map(|(_, t)| t.counter)
            .min_by(f64::total_cmp)
            .or_else(|| {
                self.last_left
                    .filter(|&s| s != slot)
                    .map(|s| self.tenants[s].counter)
            });
        if let Some(floor) = floor {
            let t = &mut self.tenants[slot];
            t.counter = t.counter.max(floor);
        }
    }

    /// The backlogged tenant whose turn it is: the smallest counter, the
    /// earliest slot among equals.
    pub fn next_tenant(&self) -> Option<Slot> {
        self.tenants
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.queue.is_empty())
            .min_by(|a, b| a.1.counter.total_cmp(&b.1.counter))
            .map(|(s, _)| s)
    }

    /// The waiting sequences of one tenant, head first (the hot-prefix
    /// preference reorders within it; nothing may add or remove through
    /// it).
    pub fn queue_mut(&mut self, slot: Slot) -> &mut VecDeque<SeqId> {
        &mut self.tenants[slot].queue
    }

    /// The waiting sequences of one tenant, head first.
    pub fn queue(&self, slot: Slot) -> &VecDeque<SeqId> {
        &self.tenants[slot].queue
    }

    /// Takes the head of a tenant's queue.
    pub fn pop_front(&mut self, slot: Slot) -> Option<SeqId> {
        let id = self.tenants[slot].queue.pop_front()?;
        self.waiting -= 1;
        if self.tenants[slot].queue.is_empty() {
            self.last_left = Some(slot);
        }
        Some(id)
    }

    /// Removes a waiting sequence (its client left); false when it was not
    /// waiting in that tenant's queue.
    pub fn remove(&mut self, slot: Slot, id: SeqId) -> bool {
        let q = &mut self.tenants[slot].queue;
        let Some(pos) = q.iter().position(|&s| s == id) else {
            return false;
        };
        q.remove(pos);
        self.waiting -= 1;
        if q.is_empty() {
            self.last_left = Some(slot);
        }
        true
    }

    /// One of the tenant's sequences joined the running batch.
    pub fn started(&mut self, slot: Slot) {
        self.tenants[slot].running += 1;
    }

    /// One of the tenant's sequences left the running batch.
    pub fn stopped(&mut self, slot: Slot) {
        let t = &mut self.tenants[slot];
        t.running = t.running.saturating_sub(1);
    }

    /// Sequences of the tenant in the running batch.
    pub fn running(&self, slot: Slot) -> usize {
        self.tenants[slot].running
    }

    /// The tenant's counter.
    pub fn counter(&self, slot: Slot) -> f64 {
        self.tenants[slot].counter
    }

    /// Charge prompt tokens a sequence will compute (at admission).
    pub fn charge_prefill(&mut self, slot: Slot, tokens: usize) {
        self.tenants[slot].prefill += tokens as u64;
        self.charge(slot, INPUT_COST * tokens as f64);
    }

    /// Charge tokens produced by the tenant's sequences.
    pub fn charge_decode(&mut self, slot: Slot, tokens: usize) {
        self.tenants[slot].decode += tokens as u64;
        self.charge(slot, OUTPUT_COST * tokens as f64);
    }

    fn charge(&mut self, slot: Slot, cost: f64) {
        let t = &mut self.tenants[slot];
        let w = cost / f64::from(t.weight);
        t.counter += w;
        t.weighted += w;
        if t.counter > REBASE_AT {
            self.rebase();
        }
    }

    /// Subtract the smallest counter among tenants with work (waiting or
    /// running) from every counter, clamping at zero: the order of active
    /// tenants and their distances are unchanged, and an idle tenant below
    /// them stays below them (it is lifted when it comes back anyway).
    fn rebase(&mut self) {
        let Some(base) = self
            .tenants
            .iter()
            .filter(|t| !t.queue.is_empty() || t.running > 0)
            .map(|t| t.counter)
            .min_by(f64::total_cmp)
        else {
            return;
        };
        for t in &mut self.tenants {
            t.counter = (t.counter - base).max(0.0);
        }
    }

    /// What each tenant received, in slot order (first seen first).
    pub fn service(&self) -> Vec<TenantService> {
        self.tenants
            .iter()
            .map(|t| TenantService {
                tenant: t.id.clone(),
                weight: t.weight,
                prefill_tokens: t.prefill,
                decode_tokens: t.decode,
                weighted: t.weighted,
                counter: t.counter,
                waiting: t.queue.len(),
                running: t.running,
            })
            .collect()
    }

    /// Every waiting sequence with its tenant's slot (for invariant checks).
    #[cfg(test)]
    pub(crate) fn all_waiting(&self) -> impl Iterator<Item = (Slot, SeqId)> + '_ {
        self.tenants
            .iter()
            .enumerate()
            .flat_map(|(s, t)| t.queue.iter().map(move |&id| (s, id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str, weight: u32) -> Tenant {
        Tenant {
            id: TenantId(name.into()),
            weight,
            cache_group: name.into(),
        }
    }

    fn sid(n: u64) -> SeqId {
        SeqId::new(n, 0).unwrap()
    }

    #[test]
    fn charges_are_weighted_and_output_costs_twice_input() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        let b = q.slot(&tenant("b", 2));
        let z = q.slot(&tenant("z", 0));
        q.charge_prefill(a, 10);
        q.charge_decode(a, 3);
        q.charge_prefill(b, 10);
        q.charge_decode(b, 3);
        q.charge_decode(z, 5);
        let s = q.service();
        assert_eq!((s[0].prefill_tokens, s[0].decode_tokens), (10, 3));
        assert_eq!(s[0].weighted, 16.0);
        assert_eq!(s[0].counter, 16.0);
        assert_eq!(s[1].weighted, 8.0, "weight 2 halves the charge");
        assert_eq!(s[1].raw(), 16.0);
        assert_eq!(s[2].weight, 1, "weight 0 counts as 1");
        assert_eq!(s[2].weighted, 10.0);
    }

    #[test]
    fn the_smallest_backlogged_counter_goes_first_fifo_within_a_tenant() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        let b = q.slot(&tenant("b", 1));
        q.arrive(a, sid(1));
        q.arrive(a, sid(2));
        q.arrive(b, sid(3));
        assert_eq!(q.len(), 3);
        assert_eq!(q.next_tenant(), Some(a), "equal counters: first slot");
        assert_eq!(q.pop_front(a), Some(sid(1)));
        q.charge_prefill(a, 5);
        assert_eq!(q.next_tenant(), Some(b));
        assert_eq!(q.pop_front(b), Some(sid(3)));
        q.charge_prefill(b, 7);
        assert_eq!(q.next_tenant(), Some(a), "b is empty now");
        assert_eq!(q.pop_front(a), Some(sid(2)));
        assert_eq!(q.next_tenant(), None);
        assert!(q.is_empty());
    }

    #[test]
    fn a_tenant_coming_back_is_lifted_to_the_smallest_backlogged_counter() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        let b = q.slot(&tenant("b", 1));
        let c = q.slot(&tenant("c", 1));
        q.arrive(a, sid(1));
        q.arrive(b, sid(2));
        q.charge_prefill(a, 100);
        q.charge_prefill(b, 40);
        // c was idle all along: it may not use the time it was away.
        q.arrive(c, sid(3));
        assert_eq!(q.counter(c), 40.0, "lifted to b, the smallest backlogged");
        // A lift never lowers a counter.
        q.pop_front(a);
        q.charge_decode(a, 500);
        q.arrive(a, sid(4));
        assert_eq!(q.counter(a), 1100.0);
        // Requeueing in front is not an arrival: no lift.
        q.pop_front(c);
        q.requeue_front(c, sid(3));
        assert_eq!(q.counter(c), 40.0);
    }

    #[test]
    fn a_preemption_that_makes_a_tenant_backlogged_lifts_it() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        let b = q.slot(&tenant("b", 1));
        // a runs with nothing waiting; b waits and has paid for much more.
        q.arrive(a, sid(1));
        q.pop_front(a);
        q.charge_prefill(a, 100);
        q.arrive(b, sid(2));
        q.charge_prefill(b, 1000);
        assert_eq!(q.counter(b), 1100.0);
        // a's sequence is preempted: a is backlogged again, level with b.
        q.preempted(a, sid(1));
        assert_eq!(q.counter(a), 1100.0);
        assert_eq!(q.queue(a).iter().copied().collect::<Vec<_>>(), [sid(1)]);
        // A second preemption while a already waits is no lift.
        q.charge_prefill(b, 50);
        q.preempted(a, sid(3));
        assert_eq!(q.counter(a), 1100.0);
        assert_eq!(
            q.queue(a).iter().copied().collect::<Vec<_>>(),
            [sid(3), sid(1)]
        );
    }

    #[test]
    fn with_nobody_backlogged_the_lift_is_to_the_tenant_that_left_last() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        let b = q.slot(&tenant("b", 1));
        q.arrive(a, sid(1));
        q.pop_front(a);
        q.charge_prefill(a, 300);
        // a runs, nobody waits; b arrives and may not undercut a's service.
        q.arrive(b, sid(2));
        assert_eq!(q.counter(b), 300.0);
        // The first tenant ever keeps its counter.
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        q.arrive(a, sid(1));
        assert_eq!(q.counter(a), 0.0);
    }

    #[test]
    fn remove_and_requeue_keep_the_count() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        q.arrive(a, sid(1));
        q.arrive(a, sid(2));
        assert!(q.remove(a, sid(2)));
        assert!(!q.remove(a, sid(2)));
        assert_eq!(q.len(), 1);
        let id = q.pop_front(a).unwrap();
        q.requeue_front(a, id);
        assert_eq!(q.queue(a).iter().copied().collect::<Vec<_>>(), [sid(1)]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn the_weight_follows_the_latest_request() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        assert_eq!(q.slot(&tenant("a", 3)), a);
        q.charge_decode(a, 3);
        assert_eq!(q.service()[0].weighted, 2.0);
    }

    #[test]
    fn counters_rebase_without_changing_their_order_or_distance() {
        let mut q = FairQueues::new();
        let a = q.slot(&tenant("a", 1));
        let b = q.slot(&tenant("b", 1));
        let idle = q.slot(&tenant("idle", 1));
        q.arrive(a, sid(1));
        q.arrive(b, sid(2));
        q.charge_prefill(idle, 10);
        q.charge_prefill(b, 1000);
        // a passes the threshold: the smallest active counter (b) is taken off.
        q.charge_prefill(a, REBASE_AT as usize + 1000);
        assert_eq!(q.counter(b), 0.0);
        assert_eq!(q.counter(a), REBASE_AT, "the distance to b is kept");
        assert_eq!(q.counter(idle), 0.0, "an idle tenant stays at or below");
        assert_eq!(q.next_tenant(), Some(b));
        // Service totals are never rebased.
        assert_eq!(q.service()[0].weighted, REBASE_AT + 1000.0);
    }
}
