// RUN: ref-opt %s --ref-effect-elimination --ref-prepare-for-xla --split-input-file | FileCheck %s

// ref-prepare-for-xla: the forms XLA updates in place (docs/inplace.md). Each
// case runs effect elimination first, which marks the case/if results that
// carry ref state; this pass reshapes them.

// A case whose only writing branch is not last: it is swapped with the last
// branch and the index remapped (out-of-range indices select the last branch,
// so the index is normalised first).

// CHECK-LABEL: func.func @case_writer_moved_last
// CHECK-SAME: (%[[A:.*]]: tensor<f32>, %[[K:.*]]: tensor<i32>, %[[V:.*]]: tensor<f32>)
// CHECK: %[[E:.*]] = stablehlo.select %{{.*}}, %[[K]], %{{.*}}
// CHECK: %[[L:.*]] = stablehlo.select %{{.*}}, %{{.*}}, %[[E]]
// CHECK: %[[IDX:.*]] = stablehlo.select %{{.*}}, %{{.*}}, %[[L]]
// CHECK: %[[C:.*]] = "stablehlo.case"(%[[IDX]]) ({
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: stablehlo.return %[[V]] : tensor<f32>
// CHECK: }) : (tensor<i32>) -> tensor<f32>
// CHECK: return %[[C]]
func.func @case_writer_moved_last(%a: tensor<f32>, %k: tensor<i32>, %v: tensor<f32>) -> tensor<f32> {
  %r = ref.new %a : !ref.ref<tensor<f32>>
  "stablehlo.case"(%k) ({
    ref.set %r, %v : !ref.ref<tensor<f32>>, tensor<f32>
    stablehlo.return
  }, {
    stablehlo.return
  }, {
    stablehlo.return
  }) : (tensor<i32>) -> ()
  %f = ref.freeze %r : !ref.ref<tensor<f32>>
  return %f : tensor<f32>
}

// -----

// func.call: the callee's ref parameters become trailing tensor parameters and
// each written one an extra trailing result; the caller passes current values
// (a view's window) and writes the results back.

// CHECK-LABEL: func.func private @bump
// CHECK-SAME: (%[[S:.*]]: tensor<f32>, %[[X:.*]]: tensor<2xf32>, %[[Y:.*]]: tensor<2xf32>) -> (tensor<f32>, tensor<2xf32>)
// CHECK: %[[N:.*]] = stablehlo.add %[[X]], %[[Y]]
// CHECK: return %[[S]], %[[N]] : tensor<f32>, tensor<2xf32>
func.func private @bump(%x: !ref.ref<tensor<2xf32>>, %y: !ref.ref<tensor<2xf32>>, %s: tensor<f32>) -> tensor<f32> {
  %v = ref.get %y : !ref.ref<tensor<2xf32>> -> tensor<2xf32>
  ref.addupdate %x, %v : !ref.ref<tensor<2xf32>>, tensor<2xf32>
  return %s : tensor<f32>
}

// CHECK-LABEL: func.func @caller
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<2xf32>, %[[S:.*]]: tensor<f32>)
// CHECK: %[[SL:.*]] = stablehlo.slice %[[A]] [2:4]
// CHECK: %[[WIN:.*]] = stablehlo.optimization_barrier %[[SL]]
// CHECK: %[[RES:.*]]:2 = call @bump(%[[S]], %[[WIN]], %[[B]]) : (tensor<f32>, tensor<2xf32>, tensor<2xf32>) -> (tensor<f32>, tensor<2xf32>)
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[A]], %[[RES]]#1, %{{.*}}
// CHECK: return %[[RES]]#0, %[[NEW]]
func.func @caller(%a: tensor<4xf32>, %b: tensor<2xf32>, %s: tensor<f32>) -> (tensor<f32>, tensor<4xf32>) {
  %ra = ref.new %a : !ref.ref<tensor<4xf32>>
  %rb = ref.new %b : !ref.ref<tensor<2xf32>>
  %v = ref.view %ra[2] sizes [2] : !ref.ref<tensor<4xf32>> -> !ref.ref<tensor<2xf32>>
  %t = func.call @bump(%v, %rb, %s) : (!ref.ref<tensor<2xf32>>, !ref.ref<tensor<2xf32>>, tensor<f32>) -> tensor<f32>
  %f = ref.freeze %ra : !ref.ref<tensor<4xf32>>
  return %t, %f : tensor<f32>, tensor<4xf32>
}

// -----

// Argument and result attributes of a callee stay in step with its new
// signature: a ref parameter's attributes move with the tensor that replaces
// it, and each added result gets an empty dictionary.
// CHECK-LABEL: func.func private @attrs
// CHECK-SAME: (%{{.*}}: tensor<i32> {jax.token = true}, %{{.*}}: tensor<f32> {test.ref_param})
// CHECK-SAME: -> (tensor<i32> {jax.token = true}, tensor<f32>)
func.func private @attrs(%r: !ref.ref<tensor<f32>> {test.ref_param}, %t: tensor<i32> {jax.token = true}) -> (tensor<i32> {jax.token = true}) {
  %v = ref.get %r : !ref.ref<tensor<f32>> -> tensor<f32>
  %w = stablehlo.add %v, %v : tensor<f32>
  ref.set %r, %w : !ref.ref<tensor<f32>>, tensor<f32>
  return %t : tensor<i32>
}
func.func private @caller(%x: tensor<f32>, %t: tensor<i32>) -> tensor<f32> {
  %r = ref.new %x : !ref.ref<tensor<f32>>
  %t2 = func.call @attrs(%r, %t) : (!ref.ref<tensor<f32>>, tensor<i32>) -> tensor<i32>
  %y = ref.get %r : !ref.ref<tensor<f32>> -> tensor<f32>
  return %y : tensor<f32>
}

// -----

// Several branches write one row each (one a swap): the writes are hoisted.
// The branches return the row and its offsets (a branch that writes nothing
// returns the row at offset 0, unchanged) and one dynamic_update_slice after
// the case writes it, so XLA updates the buffer in place.

// CHECK-LABEL: func.func @case_writes_hoisted
// CHECK-SAME: (%[[A:.*]]: tensor<8x4xf32>, %[[K:.*]]: tensor<i32>, %[[I:.*]]: tensor<i32>, %[[V:.*]]: tensor<4xf32>)
// CHECK: %[[C:.*]]:4 = "stablehlo.case"(%[[K]]) ({
// CHECK: %[[CI:.*]] = stablehlo.clamp %{{.*}}, %[[I]], %{{.*}} : tensor<i32>
// CHECK: %[[OLD:.*]] = stablehlo.dynamic_slice %[[A]], %[[CI]]
// CHECK: %[[OLDV:.*]] = stablehlo.reshape %[[OLD]]
// CHECK: %[[Z0:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[W0:.*]] = stablehlo.reshape %[[V]] : (tensor<4xf32>) -> tensor<1x4xf32>
// CHECK-NOT: dynamic_update_slice
// CHECK: %[[CI2:.*]] = stablehlo.clamp %{{.*}}, %[[I]], %{{.*}} : tensor<i32>
// CHECK: stablehlo.return %[[OLDV]], %[[CI2]], %[[Z0]], %[[W0]] : tensor<4xf32>, tensor<i32>, tensor<i32>, tensor<1x4xf32>
// CHECK: }, {
// CHECK: %[[TWO:.*]] = stablehlo.constant dense<2> : tensor<i32>
// CHECK: %[[Z1:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[W1:.*]] = stablehlo.reshape %[[V]]
// CHECK-NOT: dynamic_update_slice
// CHECK: stablehlo.return %[[V]], %[[TWO]], %[[Z1]], %[[W1]]
// CHECK: }, {
// CHECK: %[[Z2:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[KEEP:.*]] = stablehlo.dynamic_slice %[[A]], %[[Z2]], %[[Z2]], sizes = [1, 4]
// CHECK: stablehlo.return %[[V]], %[[Z2]], %[[Z2]], %[[KEEP]]
// CHECK: }) : (tensor<i32>) -> (tensor<4xf32>, tensor<i32>, tensor<i32>, tensor<1x4xf32>)
// CHECK: %[[NEW:.*]] = stablehlo.dynamic_update_slice %[[A]], %[[C]]#3, %[[C]]#1, %[[C]]#2
// CHECK: return %[[C]]#0, %[[NEW]]
func.func @case_writes_hoisted(%a: tensor<8x4xf32>, %k: tensor<i32>, %i: tensor<i32>, %v: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>) {
  %r = ref.new %a : !ref.ref<tensor<8x4xf32>>
  %o = "stablehlo.case"(%k) ({
    %old = ref.swap %r[%i, 0] sizes [1, 4] squeezed [0], %v
        : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
    stablehlo.return %old : tensor<4xf32>
  }, {
    ref.set %r[2, 0] sizes [1, 4] squeezed [0], %v : !ref.ref<tensor<8x4xf32>>, tensor<4xf32>
    stablehlo.return %v : tensor<4xf32>
  }, {
    stablehlo.return %v : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  %f = ref.freeze %r : !ref.ref<tensor<8x4xf32>>
  return %o, %f : tensor<4xf32>, tensor<8x4xf32>
}

// -----

// Several writing branches that cannot be hoisted (branch 0 writes two rows):
// the case keeps the branch that writes nothing (the writers' slots return
// zeros) and each writer becomes a while loop that runs once if its branch is
// selected (the normalised index equals it), else never, carrying the buffer
// and the case's results. A root only read in a loop is read from the value
// after the previous loops.

// CHECK-LABEL: func.func @case_writers_as_loops
// CHECK-SAME: (%[[A:.*]]: tensor<8x4xf32>, %[[K:.*]]: tensor<i32>, %[[V:.*]]: tensor<4xf32>)
// CHECK: %[[E:.*]] = stablehlo.select %{{.*}}, %[[K]], %{{.*}} : tensor<i1>, tensor<i32>
// CHECK: %[[C0:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[F0:.*]] = stablehlo.compare EQ, %[[E]], %[[C0]]
// CHECK: %[[C2:.*]] = stablehlo.constant dense<2> : tensor<i32>
// CHECK: %[[F2:.*]] = stablehlo.compare EQ, %[[E]], %[[C2]]
// CHECK: %[[ZERO:.*]] = stablehlo.constant dense<0.000000e+00> : tensor<4xf32>
// CHECK: %[[CASE:.*]] = "stablehlo.case"(%[[K]]) ({
// CHECK-NEXT: stablehlo.return %[[ZERO]] : tensor<4xf32>
// CHECK-NEXT: }, {
// CHECK: stablehlo.slice %[[A]] [5:6, 0:4]
// CHECK: }, {
// CHECK-NEXT: stablehlo.return %[[ZERO]] : tensor<4xf32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<4xf32>
// CHECK: %[[W0:.*]]:3 = stablehlo.while(%[[FL:.*]] = %[[F0]], %[[R0:.*]] = %[[CASE]], %[[B0:.*]] = %[[A]])
// CHECK: stablehlo.return %[[FL]] : tensor<i1>
// CHECK: %[[U0:.*]] = stablehlo.dynamic_update_slice %[[B0]]
// CHECK: %[[U1:.*]] = stablehlo.dynamic_update_slice %[[U0]]
// CHECK: %[[NO:.*]] = stablehlo.constant dense<false> : tensor<i1>
// CHECK: stablehlo.return %[[NO]], %[[V]], %[[U1]] : tensor<i1>, tensor<4xf32>, tensor<8x4xf32>
// CHECK: %[[W2:.*]]:3 = stablehlo.while(%{{.*}} = %[[F2]], %{{.*}} = %[[W0]]#1, %[[B2:.*]] = %[[W0]]#2)
// CHECK: stablehlo.slice %[[B2]] [2:3, 0:4]
// CHECK: stablehlo.dynamic_update_slice %[[B2]]
// CHECK: return %[[W2]]#1, %[[W2]]#2
func.func @case_writers_as_loops(%a: tensor<8x4xf32>, %k: tensor<i32>, %v: tensor<4xf32>) -> (tensor<4xf32>, tensor<8x4xf32>) {
  %r = ref.new %a : !ref.ref<tensor<8x4xf32>>
  %o = "stablehlo.case"(%k) ({
    ref.set %r[0, 0] sizes [1, 4] squeezed [0], %v : !ref.ref<tensor<8x4xf32>>, tensor<4xf32>
    ref.set %r[1, 0] sizes [1, 4] squeezed [0], %v : !ref.ref<tensor<8x4xf32>>, tensor<4xf32>
    stablehlo.return %v : tensor<4xf32>
  }, {
    %g = ref.get %r[5, 0] sizes [1, 4] squeezed [0] : !ref.ref<tensor<8x4xf32>> -> tensor<4xf32>
    stablehlo.return %g : tensor<4xf32>
  }, {
    %old = ref.swap %r[2, 0] sizes [1, 4] squeezed [0], %v
        : !ref.ref<tensor<8x4xf32>>, tensor<4xf32> -> tensor<4xf32>
    stablehlo.return %old : tensor<4xf32>
  }) : (tensor<i32>) -> tensor<4xf32>
  %f = ref.freeze %r : !ref.ref<tensor<8x4xf32>>
  return %o, %f : tensor<4xf32>, tensor<8x4xf32>
}

// -----

// Both branches of an if write the whole ref: loops, the second one on the
// negated predicate.

// CHECK-LABEL: func.func @if_both_write
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[P:.*]]: tensor<i1>, %[[V:.*]]: tensor<4xf32>)
// CHECK: %[[NP:.*]] = stablehlo.not %[[P]]
// CHECK-NOT: stablehlo.if
// CHECK: %[[W0:.*]]:2 = stablehlo.while(%{{.*}} = %[[P]], %{{.*}} = %[[A]])
// CHECK: %[[W1:.*]]:2 = stablehlo.while(%{{.*}} = %[[NP]], %{{.*}} = %[[W0]]#1)
// CHECK: return %[[W1]]#1
func.func @if_both_write(%a: tensor<4xf32>, %p: tensor<i1>, %v: tensor<4xf32>) -> tensor<4xf32> {
  %r = ref.new %a : !ref.ref<tensor<4xf32>>
  "stablehlo.if"(%p) ({
    ref.set %r, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
    stablehlo.return
  }, {
    ref.addupdate %r, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
    stablehlo.return
  }) : (tensor<i1>) -> ()
  %f = ref.freeze %r : !ref.ref<tensor<4xf32>>
  return %f : tensor<4xf32>
}

// -----

// Inside a while loop the writers are not turned into loops (a loop nested in
// a loop turns XLA's region analysis off for the whole module): the case
// returns the buffer from both branches (XLA copies it).

// CHECK-LABEL: func.func @case_in_loop_not_hoistable
// CHECK: stablehlo.while
// CHECK-NOT: stablehlo.while
// CHECK: %[[C:.*]] = "stablehlo.case"
// CHECK: }) : (tensor<i32>) -> tensor<4xf32>
func.func @case_in_loop_not_hoistable(%a: tensor<4xf32>, %n: tensor<i32>, %v: tensor<4xf32>) -> tensor<4xf32> {
  %r = ref.new %a : !ref.ref<tensor<4xf32>>
  %z = stablehlo.constant dense<0> : tensor<i32>
  %one = stablehlo.constant dense<1> : tensor<i32>
  %w = stablehlo.while(%it = %z) : tensor<i32>
   cond {
    %lt = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    "stablehlo.case"(%it) ({
      ref.set %r, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
      stablehlo.return
    }, {
      ref.addupdate %r, %v : !ref.ref<tensor<4xf32>>, tensor<4xf32>
      stablehlo.return
    }, {
      stablehlo.return
    }) : (tensor<i32>) -> ()
    %it2 = stablehlo.add %it, %one : tensor<i32>
    stablehlo.return %it2 : tensor<i32>
  }
  %f = ref.freeze %r : !ref.ref<tensor<4xf32>>
  return %f : tensor<4xf32>
}

// -----

// A view passed to a callee that writes it: the window goes through an
// optimization_barrier (works around an XLA fold of dynamic_slice + scatter +
// dynamic_update_slice, see _barrier); a whole ref passed to the same callee
// does not.
// CHECK-LABEL: func.func private @pass_view
// CHECK: %[[W:.*]] = stablehlo.dynamic_slice
// CHECK: %[[B:.*]] = stablehlo.optimization_barrier %[[W]]
// CHECK: call @bump(%[[B]])
// CHECK-NOT: optimization_barrier
// CHECK: call @bump(
func.func private @bump(%p: !ref.ref<tensor<2xf32>>) {
  %v = ref.get %p : !ref.ref<tensor<2xf32>> -> tensor<2xf32>
  ref.set %p, %v : !ref.ref<tensor<2xf32>>, tensor<2xf32>
  return
}
func.func private @pass_view(%x: tensor<8xf32>, %y: tensor<2xf32>, %o: tensor<i32>) -> (tensor<8xf32>, tensor<2xf32>) {
  %r = ref.new %x : !ref.ref<tensor<8xf32>>
  %w = ref.view %r[%o] sizes [2] : !ref.ref<tensor<8xf32>> -> !ref.ref<tensor<2xf32>>
  func.call @bump(%w) : (!ref.ref<tensor<2xf32>>) -> ()
  %s = ref.new %y : !ref.ref<tensor<2xf32>>
  func.call @bump(%s) : (!ref.ref<tensor<2xf32>>) -> ()
  %a = ref.get %r : !ref.ref<tensor<8xf32>> -> tensor<8xf32>
  %b = ref.get %s : !ref.ref<tensor<2xf32>> -> tensor<2xf32>
  return %a, %b : tensor<8xf32>, tensor<2xf32>
}

// -----

// Nested control flow: case -> if -> while; written refs become extra results
// of every branch (a branch that does not write returns the value from above).
// The only writing branch is moved last (XLA updates in place only from the
// last branch): the if's predicate is negated and its branches swapped.

// CHECK-LABEL: func.func @nested
// CHECK-SAME: (%[[A:.*]]: tensor<f32>, %[[K:.*]]: tensor<i32>, %[[P:.*]]: tensor<i1>)
// CHECK: %[[C:.*]] = "stablehlo.case"(%[[K]]) ({
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: %[[NP:.*]] = stablehlo.not %[[P]] : tensor<i1>
// CHECK: %[[IF:.*]] = "stablehlo.if"(%[[NP]]) ({
// CHECK: stablehlo.return %[[A]] : tensor<f32>
// CHECK: }, {
// CHECK: %[[W:.*]]:2 = stablehlo.while(%{{.*}} = %{{.*}}, %[[V:.*]] = %[[A]])
// CHECK: stablehlo.return %[[W]]#1 : tensor<f32>
// CHECK: }) : (tensor<i1>) -> tensor<f32>
// CHECK: stablehlo.return %[[IF]] : tensor<f32>
// CHECK: }) : (tensor<i32>) -> tensor<f32>
// CHECK: return %[[C]]
func.func @nested(%a: tensor<f32>, %k: tensor<i32>, %p: tensor<i1>) -> tensor<f32> {
  %r = ref.new %a : !ref.ref<tensor<f32>>
  "stablehlo.case"(%k) ({
    stablehlo.return
  }, {
    "stablehlo.if"(%p) ({
      %c0 = stablehlo.constant dense<0> : tensor<i32>
      %w = stablehlo.while(%it = %c0) : tensor<i32>
      cond {
        %n = stablehlo.constant dense<3> : tensor<i32>
        %q = stablehlo.compare LT, %it, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
        stablehlo.return %q : tensor<i1>
      } do {
        %v = ref.get %r : !ref.ref<tensor<f32>> -> tensor<f32>
        %d = stablehlo.add %v, %v : tensor<f32>
        ref.set %r, %d : !ref.ref<tensor<f32>>, tensor<f32>
        %one = stablehlo.constant dense<1> : tensor<i32>
        %n2 = stablehlo.add %it, %one : tensor<i32>
        stablehlo.return %n2 : tensor<i32>
      }
      stablehlo.return
    }, {
      stablehlo.return
    }) : (tensor<i1>) -> ()
    stablehlo.return
  }) : (tensor<i32>) -> ()
  %f = ref.freeze %r : !ref.ref<tensor<f32>>
  return %f : tensor<f32>
}

// -----

// The pass alone, on plain StableHLO marked by hand: result 0 carries ref
// state and only branch 0 changes it, so branch 0 moves last and the index is
// remapped; the mark is consumed.

// CHECK-LABEL: func.func @marked_by_hand
// CHECK-SAME: (%[[A:.*]]: tensor<f32>, %[[K:.*]]: tensor<i32>, %[[V:.*]]: tensor<f32>)
// CHECK: stablehlo.select
// CHECK: stablehlo.select
// CHECK: %[[IDX:.*]] = stablehlo.select
// CHECK-NEXT: %[[C:.*]] = "stablehlo.case"(%[[IDX]]) ({
// CHECK-NEXT: stablehlo.return %[[A]] : tensor<f32>
// CHECK-NEXT: }, {
// CHECK-NEXT: stablehlo.return %[[V]] : tensor<f32>
// CHECK-NEXT: }) : (tensor<i32>) -> tensor<f32>
// CHECK-NOT: refhlo.ref_results
// CHECK: return %[[C]]
func.func @marked_by_hand(%a: tensor<f32>, %k: tensor<i32>, %v: tensor<f32>) -> tensor<f32> {
  %0 = "stablehlo.case"(%k) ({
    stablehlo.return %v : tensor<f32>
  }, {
    stablehlo.return %a : tensor<f32>
  }) {refhlo.ref_results = [array<i64: 0, 0>]} : (tensor<i32>) -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// An unmarked case is plain StableHLO, not ref state: left alone, even though
// its first branch returns something else.

// CHECK-LABEL: func.func @unmarked
// CHECK: "stablehlo.case"(%{{.*}}) ({
// CHECK-NEXT: stablehlo.return %arg2
// CHECK-NEXT: }, {
// CHECK-NEXT: stablehlo.return %arg0
func.func @unmarked(%a: tensor<f32>, %k: tensor<i32>, %v: tensor<f32>) -> tensor<f32> {
  %0 = "stablehlo.case"(%k) ({
    stablehlo.return %v : tensor<f32>
  }, {
    stablehlo.return %a : tensor<f32>
  }) : (tensor<i32>) -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

// Every dynamic start gets its clamp made explicit: XLA folds a slice of a
// slice (or an update of an updated slice, or a gather of a slice) into one
// op and adds both starts unclamped.

// CHECK-LABEL: func.func @nested_dynamic_slice
// CHECK-SAME: (%[[X:.*]]: tensor<8xi32>, %[[J:.*]]: tensor<i32>, %[[I:.*]]: tensor<i32>)
// CHECK: %[[CJ:.*]] = stablehlo.clamp %{{.*}}, %[[J]], %{{.*}}
// CHECK: %[[W:.*]] = stablehlo.dynamic_slice %[[X]], %[[CJ]], sizes = [5]
// CHECK: %[[C:.*]] = stablehlo.clamp %{{.*}}, %[[I]], %{{.*}}
// CHECK: stablehlo.dynamic_slice %[[W]], %[[C]], sizes = [1]
func.func @nested_dynamic_slice(%x: tensor<8xi32>, %j: tensor<i32>, %i: tensor<i32>) -> tensor<1xi32> {
  %w = stablehlo.dynamic_slice %x, %j, sizes = [5] : (tensor<8xi32>, tensor<i32>) -> tensor<5xi32>
  %e = stablehlo.dynamic_slice %w, %i, sizes = [1] : (tensor<5xi32>, tensor<i32>) -> tensor<1xi32>
  return %e : tensor<1xi32>
}

// -----

// Starts already known to be in range (constants, clamps with constant
// bounds, iotas, and those through broadcasts and concatenations) keep their
// form; an update's starts are clamped against the update's extent.

// CHECK-LABEL: func.func @known_in_range
// CHECK-SAME: (%[[X:.*]]: tensor<8x4xi32>, %[[J:.*]]: tensor<i32>, %[[V:.*]]: tensor<2x4xi32>)
// CHECK: %[[C3:.*]] = stablehlo.constant dense<3> : tensor<i32>
// CHECK: %[[C0:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[C5:.*]] = stablehlo.constant dense<5> : tensor<i32>
// CHECK: %[[K:.*]] = stablehlo.clamp %[[C0]], %[[J]], %[[C5]]
// CHECK: %[[D:.*]] = stablehlo.dynamic_slice %[[X]], %[[K]], %[[C0]], sizes = [2, 4]
// CHECK: %[[LO:.*]] = stablehlo.constant dense<0> : tensor<i32>
// CHECK: %[[HI:.*]] = stablehlo.constant dense<6> : tensor<i32>
// CHECK: %[[CJ:.*]] = stablehlo.clamp %[[LO]], %[[J]], %[[HI]]
// CHECK: stablehlo.dynamic_update_slice %[[X]], %[[V]], %[[CJ]], %[[C0]]
// CHECK-NOT: stablehlo.clamp
// CHECK: stablehlo.dynamic_update_slice %{{.*}}, %[[D]], %[[C3]], %[[C0]]
func.func @known_in_range(%x: tensor<8x4xi32>, %j: tensor<i32>, %v: tensor<2x4xi32>) -> tensor<8x4xi32> {
  %c3 = stablehlo.constant dense<3> : tensor<i32>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %c5 = stablehlo.constant dense<5> : tensor<i32>
  %k = stablehlo.clamp %c0, %j, %c5 : tensor<i32>
  %d = stablehlo.dynamic_slice %x, %k, %c0, sizes = [2, 4] : (tensor<8x4xi32>, tensor<i32>, tensor<i32>) -> tensor<2x4xi32>
  %u = stablehlo.dynamic_update_slice %x, %v, %j, %c0 : (tensor<8x4xi32>, tensor<2x4xi32>, tensor<i32>, tensor<i32>) -> tensor<8x4xi32>
  %w = stablehlo.dynamic_update_slice %u, %d, %c3, %c0 : (tensor<8x4xi32>, tensor<2x4xi32>, tensor<i32>, tensor<i32>) -> tensor<8x4xi32>
  return %w : tensor<8x4xi32>
}

// -----

// A gather's index tensor is clamped elementwise, one bound per index
// component (operand dim - slice size, here 7 and 2), even in a callee whose
// operand is a parameter: XLA inlines the call and folds the caller's slice
// into the gather (ref seed 739871).

// CHECK-LABEL: func.func private @gather_in_callee
// CHECK-SAME: (%[[W:.*]]: tensor<8x4xi32>, %[[IX:.*]]: tensor<3x2xi32>)
// CHECK: %[[LO:.*]] = stablehlo.constant dense<0> : tensor<3x2xi32>
// CHECK: %[[B:.*]] = stablehlo.constant dense<[7, 2]> : tensor<2xi32>
// CHECK: %[[HI:.*]] = stablehlo.broadcast_in_dim %[[B]], dims = [1] : (tensor<2xi32>) -> tensor<3x2xi32>
// CHECK: %[[C:.*]] = stablehlo.clamp %[[LO]], %[[IX]], %[[HI]] : tensor<3x2xi32>
// CHECK: "stablehlo.gather"(%[[W]], %[[C]])
func.func private @gather_in_callee(%w: tensor<8x4xi32>, %ix: tensor<3x2xi32>) -> tensor<3x2xi32> {
  %g = "stablehlo.gather"(%w, %ix) <{dimension_numbers = #stablehlo.gather<offset_dims = [1], collapsed_slice_dims = [0], start_index_map = [0, 1], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 2>}> : (tensor<8x4xi32>, tensor<3x2xi32>) -> tensor<3x2xi32>
  return %g : tensor<3x2xi32>
}

// -----

// A window update of an argument sharded along a dimension the window only
// partly covers (rows 2..3 of a row-sharded buffer) becomes a masked
// elementwise update over the whole buffer: the window's read is the buffer
// itself, the scalar is broadcast to the buffer's shape.

// CHECK-LABEL: func.func @sharded_row_update
// CHECK-SAME: (%[[B:.*]]: tensor<16x4xf32> {mhlo.sharding = "{devices=[2,1]<=[2]}"})
// CHECK-NOT: dynamic_update_slice
// CHECK: %[[ONE:.*]] = stablehlo.broadcast_in_dim %{{.*}}, dims = [] : (tensor<f32>) -> tensor<16x4xf32>
// CHECK: %[[NEW:.*]] = stablehlo.add %[[B]], %[[ONE]] : tensor<16x4xf32>
// CHECK: %[[ROW:.*]] = stablehlo.iota dim = 0 : tensor<16x4xi32>
// CHECK: %[[GE:.*]] = stablehlo.compare GE, %[[ROW]], %{{.*}}, SIGNED
// CHECK: %[[LT:.*]] = stablehlo.compare LT, %[[ROW]], %{{.*}}, SIGNED
// CHECK: %[[IN:.*]] = stablehlo.and %[[GE]], %[[LT]]
// CHECK: %[[R:.*]] = stablehlo.select %[[IN]], %[[NEW]], %[[B]]
// CHECK: return %[[R]]
func.func @sharded_row_update(%b: tensor<16x4xf32> {mhlo.sharding = "{devices=[2,1]<=[2]}"}) -> tensor<16x4xf32> {
  %w = stablehlo.slice %b [2:4, 0:4] : (tensor<16x4xf32>) -> tensor<2x4xf32>
  %one = stablehlo.constant dense<1.0> : tensor<f32>
  %o = stablehlo.broadcast_in_dim %one, dims = [] : (tensor<f32>) -> tensor<2x4xf32>
  %s = stablehlo.add %w, %o : tensor<2x4xf32>
  %c2 = stablehlo.constant dense<2> : tensor<i32>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %r = stablehlo.dynamic_update_slice %b, %s, %c2, %c0 : (tensor<16x4xf32>, tensor<2x4xf32>, tensor<i32>, tensor<i32>) -> tensor<16x4xf32>
  return %r : tensor<16x4xf32>
}

// -----

// A row update of a column-sharded buffer covers the sharded dimension
// whole: each device updates its own columns already, it stays an update.

// CHECK-LABEL: func.func @column_sharded_row_update
// CHECK: stablehlo.dynamic_update_slice
// CHECK-NOT: stablehlo.select
func.func @column_sharded_row_update(%b: tensor<16x4xf32> {mhlo.sharding = "{devices=[1,2]<=[2]}"}, %v: tensor<1x4xf32>) -> tensor<16x4xf32> {
  %c2 = stablehlo.constant dense<2> : tensor<i32>
  %c0 = stablehlo.constant dense<0> : tensor<i32>
  %r = stablehlo.dynamic_update_slice %b, %v, %c2, %c0 : (tensor<16x4xf32>, tensor<1x4xf32>, tensor<i32>, tensor<i32>) -> tensor<16x4xf32>
  return %r : tensor<16x4xf32>
}

// -----

// A scatter into a gathered local copy (a strided view indexed again and
// written) gets an optimization_barrier on the copy: XLA folds the gather
// into the scatter and loses which of its elements are out of range.

// CHECK-LABEL: func.func @scatter_into_gathered
// CHECK: %[[G:.*]] = "stablehlo.gather"
// CHECK: %[[B:.*]] = stablehlo.optimization_barrier %[[G]]
// CHECK: "stablehlo.scatter"(%[[B]],
func.func @scatter_into_gathered(%x: tensor<4x4xf32>, %j: tensor<1x1xi32>, %v: tensor<1xf32>) -> tensor<2xf32> {
  %i = stablehlo.constant dense<[[2, 3], [3, 3]]> : tensor<2x2xi32>
  %g = "stablehlo.gather"(%x, %i) <{dimension_numbers = #stablehlo.gather<collapsed_slice_dims = [0, 1], start_index_map = [0, 1], index_vector_dim = 1>, indices_are_sorted = false, slice_sizes = array<i64: 1, 1>}> : (tensor<4x4xf32>, tensor<2x2xi32>) -> tensor<2xf32>
  %s = "stablehlo.scatter"(%g, %j, %v) <{indices_are_sorted = false, scatter_dimension_numbers = #stablehlo.scatter<inserted_window_dims = [0], scatter_dims_to_operand_dims = [0], index_vector_dim = 1>, unique_indices = false}> ({
  ^bb0(%a: tensor<f32>, %b: tensor<f32>):
    stablehlo.return %b : tensor<f32>
  }) : (tensor<2xf32>, tensor<1x1xi32>, tensor<1xf32>) -> tensor<2xf32>
  return %s : tensor<2xf32>
}
