// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Pebble

/// The event loop's decisions without a descriptor: one-shot re-arming, cancel once, and tokens
/// that a late event cannot use once their registration is gone.
@Suite struct EventRegistrationStateMachineTests {
    typealias Machine = EventRegistrationStateMachine

    @Test func resumeAddsOnceThenEventsRunTheHandlerAndRearm() {
        var machine = Machine()
        #expect(!machine.eventArrived())
        do {
            let value = machine.resume()
            #expect(value == .add)
        }
        machine.added(token: 7)
        do {
            let value = machine.resume()
            #expect(value == .none)
        }
        #expect(machine.eventArrived())
        #expect(machine.handlerReturned() == .rearm(token: 7))
    }

    @Test func cancelStopsHandlersAndRearmingAndRemovesOnce() {
        var machine = Machine()
        _ = machine.resume()
        machine.added(token: 9)
        do {
            let value = machine.cancel()
            #expect(value)
        }
        do {
            let value = machine.cancel()
            #expect(!value)
        }
        // An event already on its way, and a handler that was running when cancel came.
        #expect(!machine.eventArrived())
        #expect(machine.handlerReturned() == .none)
        do {
            let value = machine.performCancel()
            #expect(value == .remove(token: 9))
        }
        #expect(machine.state == .cancelled)
        #expect(!machine.eventArrived())
        do {
            let value = machine.resume()
            #expect(value == .none)
        }
    }

    @Test func cancelBeforeResumeNeverAdds() {
        var machine = Machine()
        do {
            let value = machine.cancel()
            #expect(value)
        }
        do {
            let value = machine.resume()
            #expect(value == .none)
        }
        do {
            let value = machine.performCancel()
            #expect(value == .finish)
        }
    }

    @Test func aRefusedDescriptorStillGetsOneEventAndNoRearm() {
        var machine = Machine()
        _ = machine.resume()
        machine.addFailed()
        #expect(machine.eventArrived())
        #expect(machine.handlerReturned() == .none)
        do {
            let value = machine.cancel()
            #expect(value)
        }
        do {
            let value = machine.performCancel()
            #expect(value == .finish)
        }
    }

    @Test func aRemovedTokenFindsNothingEvenOnceItsSlotIsReused() {
        var table = EventTokenTable<String>()
        let first = table.insert("a")
        let second = table.insert("b")
        #expect(table.value(for: first) == "a")
        do {
            let value = table.remove(first)
            #expect(value == "a")
        }
        do {
            let value = table.remove(first)
            #expect(value == nil)
        }
        #expect(table.value(for: first) == nil)
        let third = table.insert("c")
        // Same slot, new generation: the old token cannot reach the new value.
        #expect(EventTokenTable<String>.split(third).index == EventTokenTable<String>.split(first).index)
        #expect(third != first)
        #expect(table.value(for: first) == nil)
        #expect(table.value(for: third) == "c")
        #expect(table.value(for: second) == "b")
        #expect(table.value(for: 0) == nil)
        #expect(table.value(for: EventTokenTable<String>.token(index: 99, generation: 1)) == nil)
        #expect(table.count == 2)
    }

    @Test func generationsWrapWithoutEverBeingZero() {
        var table = EventTokenTable<Int>()
        var token = table.insert(0)
        for value in 1...1000 {
            table.remove(token)
            token = table.insert(value)
            #expect(EventTokenTable<Int>.split(token).generation != 0)
        }
        #expect(table.count == 1)
        #expect(table.value(for: token) == 1000)
    }
}
