// @generated automatically by Diesel CLI.

diesel::table! {
    readings (id) {
        id -> Integer,
        device_id -> Text,
        co2 -> Nullable<Integer>,
        temperature -> Nullable<Double>,
        humidity -> Nullable<Double>,
        pressure -> Nullable<Double>,
        battery -> Nullable<Integer>,
        status -> Nullable<Text>,
        captured_at -> Text,
        radon -> Nullable<Integer>,
        radiation_rate -> Nullable<Double>,
        radiation_total -> Nullable<Double>,
    }
}
