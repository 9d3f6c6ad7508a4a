//! MedBlock's hybrid consensus as pure state machines: regional endorser election, primary
//! turns, the randomness beacon that picks each turn's orderer committee, and PBFT inside the
//! committee. Each machine takes an input and the current time and returns actions.
